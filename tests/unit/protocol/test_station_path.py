import pytest

from csms.protocol.station_path import InvalidStationPath, station_id_from_path


@pytest.mark.parametrize(
    ("path", "station"),
    [
        ("/ocpp/CP-1", "CP-1"),
        ("/ocpp/CP-1?token=x", "CP-1"),
        ("/ocpp/CP%201".replace("%20", "%2D"), "CP-1"),
        ("/ocpp/site.7:evse_2", "site.7:evse_2"),
    ],
)
def test_valid_station_ids(path: str, station: str) -> None:
    assert station_id_from_path(path) == station


@pytest.mark.parametrize(
    "path",
    [
        "/ocpp/",
        "/ocpp/..",
        "/ocpp/%2E%2E",
        "/ocpp/a/b",
        "/ocpp/a%2Fb",
        "/ocpp/" + "x" * 49,
        "/other/CP-1",
        "/ocpp/CP 1",
        "/ocpp/%00",
    ],
)
def test_path_tricks_are_refused(path: str) -> None:
    with pytest.raises(InvalidStationPath) as info:
        station_id_from_path(path)
    assert "x" * 20 not in str(info.value)  # never echoes the input

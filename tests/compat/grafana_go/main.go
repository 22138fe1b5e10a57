// Command grafana_go talks to a ClickHouse HTTP endpoint the way Grafana's ClickHouse
// data-source plugin does (clickhouse-go/v2, Protocol HTTP, gzip, database/sql, a deadline on
// every query), and checks the answers. It expects meter_values to hold the rows that
// tests/unit/analytics/test_grafana_client.py inserts. Exit status 0 = every check passed.
package main

import (
	"context"
	"database/sql"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/ClickHouse/clickhouse-go/v2"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8123", "host:port of the HTTP endpoint")
	user := flag.String("user", "default", "user name (Basic auth)")
	password := flag.String("password", "", "password")
	database := flag.String("database", "default", "default database of the data source")
	flag.Parse()
	if err := run(*addr, *user, *password, *database); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		os.Exit(1)
	}
	fmt.Println("OK")
}

// open mirrors the plugin's Connect: HTTP protocol, gzip, Basic auth, database/sql pool.
func open(addr, user, password, database string) *sql.DB {
	return clickhouse.OpenDB(&clickhouse.Options{
		Addr:        []string{addr},
		Protocol:    clickhouse.HTTP,
		Auth:        clickhouse.Auth{Database: database, Username: user, Password: password},
		Compression: &clickhouse.Compression{Method: clickhouse.CompressionGZIP},
		ClientInfo: clickhouse.ClientInfo{Products: []struct{ Name, Version string }{
			{Name: "clickhouse-datasource", Version: "compat-test"},
		}},
		DialTimeout: 10 * time.Second,
		ReadTimeout: 30 * time.Second,
		Settings:    clickhouse.Settings{},
	})
}

func run(addr, user, password, database string) error {
	// Grafana runs every query under a deadline: the client then sends max_execution_time.
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db := open(addr, user, password, database)
	defer db.Close()
	checks := []struct {
		name string
		fn   func(context.Context, *sql.DB, string) error
	}{
		{"ping", func(ctx context.Context, db *sql.DB, _ string) error { return db.PingContext(ctx) }},
		{"version", checkVersion},
		{"databases", checkDatabases},
		{"tables", checkTables},
		{"columns", checkColumns},
		{"time series", checkTimeSeries},
		{"types", checkTypes},
		{"readonly", checkReadonly},
	}
	for _, c := range checks {
		if err := c.fn(ctx, db, database); err != nil {
			return fmt.Errorf("%s: %w", c.name, err)
		}
		fmt.Println("ok", c.name)
	}
	bad := open(addr, user, password+"-wrong", database)
	defer bad.Close()
	if err := expectCode(bad.PingContext(ctx), 516); err != nil {
		return fmt.Errorf("wrong password: %w", err)
	}
	fmt.Println("ok wrong password")
	return nil
}

func checkVersion(ctx context.Context, db *sql.DB, _ string) error {
	var version string
	if err := db.QueryRowContext(ctx, "SELECT version()").Scan(&version); err != nil {
		return err
	}
	if version == "" {
		return errors.New("empty version")
	}
	return nil
}

func strings(ctx context.Context, db *sql.DB, query string) ([]string, error) {
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, rows.Err()
}

func checkDatabases(ctx context.Context, db *sql.DB, database string) error {
	names, err := strings(ctx, db, "SHOW DATABASES")
	if err != nil {
		return err
	}
	if !slices.Contains(names, database) {
		return fmt.Errorf("%q not in %v", database, names)
	}
	return nil
}

func checkTables(ctx context.Context, db *sql.DB, database string) error {
	names, err := strings(ctx, db,
		fmt.Sprintf("SELECT name FROM system.tables WHERE database = '%s' ORDER BY name", database))
	if err != nil {
		return err
	}
	if !slices.Contains(names, "meter_values") {
		return fmt.Errorf("meter_values not in %v", names)
	}
	return nil
}

func checkColumns(ctx context.Context, db *sql.DB, database string) error {
	rows, err := db.QueryContext(ctx, fmt.Sprintf("DESCRIBE TABLE %s.meter_values", database))
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	types := map[string]string{}
	for rows.Next() {
		values := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range values {
			ptrs[i] = &values[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return err
		}
		types[fmt.Sprint(values[0])] = fmt.Sprint(values[1])
	}
	if err := rows.Err(); err != nil {
		return err
	}
	if types["ts"] != "DateTime64(3, 'UTC')" || types["measurand"] != "LowCardinality(String)" {
		return fmt.Errorf("unexpected column types %v", types)
	}
	return nil
}

// checkTimeSeries runs what the query builder makes of a time-series panel:
// $__timeInterval(ts) and $__timeFilter(ts) expanded over the dashboard's range.
func checkTimeSeries(ctx context.Context, db *sql.DB, _ string) error {
	query := `SELECT toStartOfInterval(toDateTime(ts), INTERVAL 60 second) AS time,
       station, avg(value) AS avg_value, count() AS samples
FROM meter_values
WHERE ts >= toDateTime(1740816000) AND ts <= toDateTime(1740819600)
  AND measurand = 'Power.Active.Import'
GROUP BY time, station ORDER BY time, station`
	rows, err := db.QueryContext(ctx, query)
	if err != nil {
		return err
	}
	defer rows.Close()
	var got []string
	for rows.Next() {
		var (
			t       time.Time
			station string
			avg     float64
			samples uint64
		)
		if err := rows.Scan(&t, &station, &avg, &samples); err != nil {
			return err
		}
		got = append(got, fmt.Sprintf("%s %s %.1f %d", t.UTC().Format(time.RFC3339), station, avg, samples))
	}
	if err := rows.Err(); err != nil {
		return err
	}
	want := []string{
		"2025-03-01T08:00:00Z CP-1 1500.0 2",
		"2025-03-01T08:00:00Z CP-2 7000.0 1",
		"2025-03-01T08:01:00Z CP-1 3000.0 1",
	}
	if !slices.Equal(got, want) {
		return fmt.Errorf("got %q, want %q", got, want)
	}
	return nil
}

// checkTypes reads the raw columns: DateTime64, LowCardinality, Float64, UInt32, Nullable, Array.
func checkTypes(ctx context.Context, db *sql.DB, _ string) error {
	query := `SELECT ts, measurand, value, evse, nullIf(phase, '') AS phase, [sample_index] AS idx
FROM meter_values ORDER BY ts, station LIMIT 1`
	var (
		ts        time.Time
		measurand string
		value     float64
		evse      uint32
		phase     *string
		idx       []uint32
	)
	err := db.QueryRowContext(ctx, query).Scan(&ts, &measurand, &value, &evse, &phase, &idx)
	if err != nil {
		return err
	}
	want := time.Date(2025, 3, 1, 8, 0, 0, 250_000_000, time.UTC)
	if !ts.Equal(want) || measurand != "Power.Active.Import" || value != 1000 || evse != 1 ||
		phase != nil || !slices.Equal(idx, []uint32{0}) {
		return fmt.Errorf("got %v %q %v %d %v %v", ts, measurand, value, evse, phase, idx)
	}
	return nil
}

func checkReadonly(ctx context.Context, db *sql.DB, _ string) error {
	_, err := db.ExecContext(ctx, "TRUNCATE TABLE meter_values")
	return expectCode(err, 164)
}

func expectCode(err error, code int32) error {
	var exception *clickhouse.Exception
	if !errors.As(err, &exception) {
		return fmt.Errorf("want ClickHouse error %d, got %v", code, err)
	}
	if exception.Code != code {
		return fmt.Errorf("want ClickHouse error %d, got %d: %s", code, exception.Code, exception.Message)
	}
	return nil
}

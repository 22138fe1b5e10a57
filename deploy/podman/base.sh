# The local base image (sourced by image.sh): public container registries are not reachable from
# the development and CI machines, so the base the Dockerfile builds on is made here, from
# Debian's packages, with debootstrap (minbase) and imported with `podman import`.
# shellcheck shell=bash

build_base_image() {
    if podman image exists "$BASE_IMAGE"; then
        log "base $BASE_IMAGE (cached)"
        return 0
    fi
    local mirror rootfs
    mirror=$(debian_mirror)
    rootfs="$PODMAN_STATE/rootfs"
    rm -rf "$rootfs"
    mkdir -p "$PODMAN_STATE"
    log "base $BASE_IMAGE: debootstrap bookworm (minbase, $BASE_PACKAGES)"
    debootstrap --variant=minbase --include="$BASE_PACKAGES" bookworm "$rootfs" "$mirror" \
        >"$PODMAN_STATE/debootstrap.log" 2>&1 \
        || { tail -20 "$PODMAN_STATE/debootstrap.log" >&2; return 1; }
    # What a slim image leaves out too: package caches and lists, documentation.
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
        "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/*
    tar -C "$rootfs" -c . | podman import \
        --change 'ENV LANG=C.UTF-8' --change 'CMD ["python3"]' \
        --message "debootstrap bookworm minbase + $BASE_PACKAGES" - "$BASE_IMAGE" >/dev/null
    rm -rf "$rootfs"
}

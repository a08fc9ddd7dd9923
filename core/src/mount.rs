//! Mounts for a new world: /proc, pivot_root, binds, tmpfs, a minimal /dev. See mount_namespaces(7).

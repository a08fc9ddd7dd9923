//! nsexec's launch: unshare, map, fork, set up the new world, exec.

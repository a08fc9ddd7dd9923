//! nsenter-lite's join: setns into a running process's namespaces. See setns(2), pidfd_open(2).

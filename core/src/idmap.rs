//! User-namespace id maps: parse, validate, write uid_map/gid_map/setgroups. See user_namespaces(7).

//! Credentials: uid/gid, supplementary groups, capabilities, no_new_privs. See credentials(7), capabilities(7).

//! Usage of groups, computed and printed as `docker stats` does.

//! cgroups: detect v1 / v2 / hybrid, one Limits model in Docker's terms, a plan per version. See cgroups(7).

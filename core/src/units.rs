//! Units: sizes, rates, cpu lists, in Docker's syntax; and Docker's way of printing them.

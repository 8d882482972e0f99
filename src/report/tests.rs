//! Report tests on known numbers.

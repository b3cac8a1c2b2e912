//! grail-validator library.

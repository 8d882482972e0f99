//! `hotline`: the 12345 unified government service hotline backend.
//!
//! Layers, inner to outer: [`domain`] (pure rules), [`store`] (persistence
//! behind one trait, SQLite and PostgreSQL), [`api`] (thin tonic services),
//! [`auth`] (JWT), [`config`] and [`app`] (wiring a server that tests can
//! start on port 0).

pub mod api;
pub mod app;
pub mod auth;
pub mod bench;
pub mod catalogue;
pub mod cli;
pub mod config;
pub mod demo;
pub mod domain;
pub mod proto;
pub mod report;
pub mod seed;
pub mod store;

//! End-to-end tests: each starts the real server on 127.0.0.1:0 with a fresh
//! store and drives it through the generated client (raw HTTP only where the
//! client cannot express the request).

mod accounts;
mod aksk;
mod authz;
mod backend;
mod bad_input;
mod concurrency;
mod data;
mod discovery;
mod headers;
mod huawei;
mod identifiers;
mod images;
mod lifecycle;
mod members;
mod operations;
mod patch;
mod restart;
mod spec_examples;
mod support;
mod tls;

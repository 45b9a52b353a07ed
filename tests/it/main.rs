//! Integration tests against real parts: Mosquitto, the tansu Kafka-protocol broker, socat
//! ptys, and the `forewarn` binary as a child process. Each test starts its own services on
//! free loopback ports in its own temp dir. Assertions are on what arrives in Kafka, decoded.

#[allow(dead_code)] // shared with benches/, which uses other parts of it
mod harness;

mod at_least_once;
mod config_files;
mod consumer_example;
mod corruption;
mod crash;
mod demo;
mod detectors;
mod faults;
mod fleet_cli;
mod fleet_commands;
mod fleet_page;
mod hostile;
mod kafka_security;
mod layers;
mod metrics_endpoint;
mod model_packages;
mod models;
mod mqtt;
mod mqtt_oversize;
mod mqtt_tls;
mod outage;
mod pki;
mod replay;
mod schemas;
mod secrets;
mod serial;
mod storage;
mod webdriver;

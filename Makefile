# orderlog: one entry point for running and testing the platform locally.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

export ORDERLOG_KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
export ORDERLOG_DATABASE_URL ?= postgres://orderlog:orderlog@127.0.0.1:5432/orderlog

.PHONY: help up infra down status test test-unit lint bench

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-10s %s\n", $$1, $$2 }'

up: ## Provision Kafka and PostgreSQL if missing, start them and every service
	@compose/local/up.sh

infra: ## Provision and start only Kafka and PostgreSQL
	@compose/local/up.sh --infra

down: ## Stop what `make up` started
	@compose/local/down.sh

status: ## Show what runs where
	@compose/local/services.sh status

test: ## Provision what the tests need, then run every test in the workspace
	@compose/local/up.sh --test
	cargo test --workspace --locked

test-unit: ## Tests that need neither Kafka nor PostgreSQL
	cargo test --workspace --locked --lib

lint: ## Formatting and clippy, as CI would want them
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings

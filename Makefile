# orderlog: one entry point for running and testing the platform locally.
SHELL := /usr/bin/env bash
.DEFAULT_GOAL := help

export ORDERLOG_KAFKA_BOOTSTRAP ?= 127.0.0.1:9092
export ORDERLOG_DATABASE_URL ?= postgres://orderlog:orderlog@127.0.0.1:5432/orderlog

.PHONY: help up infra down status observe replica demo screenshots test test-unit chaos chaos-short scale scale-short analytics analytics-short lint bench clean-bench

help: ## Show this help
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{ printf "  make %-12s %s\n", $$1, $$2 }'

up: ## Provision Kafka and PostgreSQL if missing, start them and every service
	@compose/local/up.sh

infra: ## Provision and start only Kafka and PostgreSQL
	@compose/local/up.sh --infra

observe: ## Prometheus on 127.0.0.1:9090 scraping the services, with the alert rules; Jaeger for traces
	@compose/local/prometheus.sh up
	@compose/local/jaeger.sh up

demo: ## Prometheus, Jaeger and the platform (traced), then two minutes of realistic order traffic to watch
	@compose/local/prometheus.sh up
	@compose/local/jaeger.sh up
	@compose/local/up.sh
	@compose/local/build.sh --release -q
	target/release/suites demo

screenshots: ## docs/img/*.png: the key panels from Prometheus's graph page, headless Chromium (after make demo)
	@compose/local/screenshots.sh

replica: ## A streaming PostgreSQL replica on 127.0.0.1:5433, and query-api reading it (its change signal on the primary)
	@compose/local/postgres.sh replica up
	@compose/local/services.sh query-on-replica

down: ## Stop what `make up` started
	@compose/local/down.sh

status: ## Show what runs where
	@compose/local/services.sh status

test: ## Provision what the tests need, run every test in the workspace, then the short fault suite
	@compose/local/up.sh --test
	@compose/local/prometheus.sh check
	@compose/local/haproxy.sh check
	@status=0; cargo test --workspace --locked || status=$$?; \
	  cargo run -q --locked -p bench -- clean --tests || true; \
	  exit $$status
	@$(MAKE) --no-print-directory chaos-short
	@$(MAKE) --no-print-directory scale-short

chaos: ## The fault suite on a 3-broker cluster (about 10 min); writes docs/reliability.md
	@compose/local/up.sh --infra
	@compose/local/cluster.sh up
	compose/local/build.sh --release
	target/release/suites chaos --bin-dir target/release --report docs/reliability.md

chaos-short: ## The short fault suite (a few faults, a few minutes), as `make test` runs it
	@compose/local/up.sh --infra
	@compose/local/cluster.sh up
	compose/local/build.sh
	target/debug/suites chaos --short --bin-dir target/debug

scale: ## Every tier scaled out behind HAProxy under load, instances added and removed, checked; commands/s against one instance each
	@compose/local/up.sh --infra
	@compose/local/haproxy.sh install
	compose/local/build.sh --release
	target/release/suites scale --compare --bin-dir target/release

scale-short: ## The scale-out check alone (about 90 s), as `make test` runs it
	@compose/local/up.sh --infra
	@compose/local/haproxy.sh install
	compose/local/build.sh
	target/debug/suites scale --bin-dir target/debug

analytics: ## Apache Spark (pyspark, local mode) and DuckDB read a Parquet export of 20,000 orders over two schema versions and must agree (installs pyspark once)
	@compose/local/up.sh --infra
	@compose/local/duckdb.sh
	@compose/local/spark.sh
	ORDERLOG_ANALYTICS_ORDERS=20000 cargo test --locked -p orderlog-cli --test it -- --ignored --exact evolution::spark_reads_the_export_as_duckdb_does

analytics-short: ## The Spark check on 400 orders, as CI runs it after `make test`
	@compose/local/up.sh --infra
	@compose/local/duckdb.sh
	@compose/local/spark.sh
	cargo test --locked -p orderlog-cli --test it -- --ignored --exact evolution::spark_reads_the_export_as_duckdb_does

bench: ## Every benchmark beside its floor or ceiling in one run (about 12 min, platform up): command latency, freshness, flat out, queries, projection, replay, takeover, memory; writes docs/bench.json and docs/performance.md's table
	@compose/local/up.sh
	compose/local/build.sh --release
	target/release/bench all

clean-bench: ## Remove the topics and databases benchmarks and tests left on the local stack
	cargo run -q --locked --release -p bench -- clean --tests

test-unit: ## Tests that need neither Kafka nor PostgreSQL
	cargo test --workspace --locked --lib

lint: ## Formatting, clippy, unused dependencies (cargo-machete), import cycles (and the checker's own tests), files over 500 lines, as CI runs them
	@compose/local/lint-tools.sh
	cargo fmt --all --check
	cargo clippy --workspace --all-targets --locked -- -D warnings
	.local/tools/bin/cargo-machete
	python3 -m unittest discover -s .ci
	python3 .ci/import_cycles.py
	python3 .ci/long_files.py

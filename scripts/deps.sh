#!/usr/bin/env bash
# Installs the system packages and services the test suite needs (idempotent; sourced by test.sh).
# Each issue that needs a real part (PostgreSQL, Chromium) adds it here.
true

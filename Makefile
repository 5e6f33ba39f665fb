# Convenience targets; the scripts are the source of truth.
#   make            release build (binaries and shipped plugins)
#   make install    install it (PREFIX=/usr/local, DESTDIR= honoured)
#   make test       every CI check
PREFIX ?= /usr/local
DESTDIR ?=

.PHONY: all build install check-systemd test

all: build

build:
	scripts/build.sh

install:
	PREFIX="$(PREFIX)" DESTDIR="$(DESTDIR)" scripts/install.sh "$(PREFIX)"

check-systemd:
	scripts/check-systemd.sh

test:
	scripts/test.sh

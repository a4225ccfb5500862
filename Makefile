# make deb builds the Debian package for this machine's architecture
# (ARCH=arm64 for the other one) into OUT; make man regenerates the man
# pages and the bash completion from their sources.
ARCH ?= $(shell dpkg --print-architecture)
OUT ?= .

.PHONY: deb man

deb:
	scripts/build-deb.sh --arch $(ARCH) --out $(OUT)

man:
	go run ./internal/manpages

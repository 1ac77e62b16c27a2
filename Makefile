# make install: the binary, the migrations, the systemd unit, its sysusers.d and tmpfiles.d
# entries and a commented configuration, where an operator expects them.
#
#   make install                          # builds the release binary first if needed
#   make install DESTDIR=/tmp/pkg PREFIX=/usr
#
# PREFIX (default /usr/local) holds the binary (bin/), the migrations (share/astra-mcpd/)
# and the unit files (lib/systemd/system, lib/sysusers.d, lib/tmpfiles.d), all of which
# systemd reads under /usr/local too. SYSCONFDIR (default /etc) gets astra-mcpd/astra-mcpd.conf,
# never overwritten once there. BINARY names a binary built elsewhere.
PREFIX ?= /usr/local
SYSCONFDIR ?= /etc
DESTDIR ?=
BINARY ?= .build/release/astra-mcpd
SWIFT ?= $(shell command -v swift || echo /opt/swift/usr/bin/swift)

BINDIR = $(DESTDIR)$(PREFIX)/bin
SHAREDIR = $(DESTDIR)$(PREFIX)/share/astra-mcpd
UNITDIR = $(DESTDIR)$(PREFIX)/lib/systemd/system
SYSUSERSDIR = $(DESTDIR)$(PREFIX)/lib/sysusers.d
TMPFILESDIR = $(DESTDIR)$(PREFIX)/lib/tmpfiles.d
CONFDIR = $(DESTDIR)$(SYSCONFDIR)/astra-mcpd

.PHONY: install uninstall

.build/release/astra-mcpd:
	$(SWIFT) build -c release --product astra-mcpd

install: $(BINARY)
	install -d $(BINDIR) $(SHAREDIR)/migrations/roles $(UNITDIR) $(SYSUSERSDIR) $(TMPFILESDIR) $(CONFDIR)
	install -m 0755 $(BINARY) $(BINDIR)/astra-mcpd
	install -m 0644 migrations/*.sql $(SHAREDIR)/migrations/
	install -m 0644 migrations/roles/*.sql $(SHAREDIR)/migrations/roles/
	sed -e 's|/usr/local/bin/astra-mcpd|$(PREFIX)/bin/astra-mcpd|g' -e 's|/etc/astra-mcpd|$(SYSCONFDIR)/astra-mcpd|g' \
		systemd/astra-mcpd.service > $(UNITDIR)/astra-mcpd.service
	chmod 0644 $(UNITDIR)/astra-mcpd.service
	install -m 0644 systemd/astra-mcpd.sysusers $(SYSUSERSDIR)/astra-mcpd.conf
	sed -e 's|/etc/astra-mcpd|$(SYSCONFDIR)/astra-mcpd|g' systemd/astra-mcpd.tmpfiles > $(TMPFILESDIR)/astra-mcpd.conf
	chmod 0644 $(TMPFILESDIR)/astra-mcpd.conf
	test -e $(CONFDIR)/astra-mcpd.conf || install -m 0640 etc/astra-mcpd/astra-mcpd.conf $(CONFDIR)/astra-mcpd.conf

uninstall:
	rm -f $(BINDIR)/astra-mcpd $(UNITDIR)/astra-mcpd.service $(SYSUSERSDIR)/astra-mcpd.conf $(TMPFILESDIR)/astra-mcpd.conf
	rm -rf $(SHAREDIR)

# deploy/install.mk: `make install`, `make uninstall` and `make deb`; included by the Makefile.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   binary, systemd unit, sysusers.d entry, man pages, and
#                                                  /etc/leakprofd/leakprofd.yaml unless one exists already
#   make uninstall [PREFIX=...] [DESTDIR=]         removes what install added; keeps the config and the database
#   make deb                                       build/leakprofd_<version>_<arch>.deb with dpkg-deb
#
# The unit, sysusers.d and tmpfiles directories under /usr/local/lib are on systemd's search paths, so a
# PREFIX=/usr/local install runs as is. The configuration always lives in /etc/leakprofd (SYSCONFDIR=/etc) and
# the database in /var/lib/leakprofd (the unit's StateDirectory=).

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
MANDIR      ?= $(PREFIX)/share/man
DOCDIR      ?= $(PREFIX)/share/doc/leakprofd
UNITDIR     ?= $(PREFIX)/lib/systemd/system
SYSUSERSDIR ?= $(PREFIX)/lib/sysusers.d
SYSCONFDIR  ?= /etc
INSTALL     ?= install

# Debian versions must start with a digit: a tag v1.2 or 1.2 gives 1.2[+N+g<hash>], an untagged tree (a bare
# hash, which may start with a digit too) 0.1.0+git<hash>[+dirty].
DEB_VERSION ?= $(shell echo '$(VERSION)' | sed -e 's/^v\([0-9]\)/\1/' -e 's/-/+/g' -e '/^[0-9][0-9]*\./!s/^/0.1.0+git/')
DEB_ARCH    ?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
DEB_FILE     = build/leakprofd_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_ROOT     = $(BUILD)/deb/root

# The unit names the binary and the config by their default paths; an install elsewhere rewrites them.
define install_unit
	sed -e 's|/usr/local/bin/leakprofd|$(BINDIR)/leakprofd|g' -e 's|/etc/leakprofd/|$(SYSCONFDIR)/leakprofd/|g' \
		deploy/leakprofd.service > $(BUILD)/leakprofd.service.tmp
	$(INSTALL) -m 0644 $(BUILD)/leakprofd.service.tmp $(DESTDIR)$(UNITDIR)/leakprofd.service
	rm -f $(BUILD)/leakprofd.service.tmp
endef

install: $(BUILD)/leakprofd
	$(INSTALL) -d -m 0755 $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) \
		$(DESTDIR)$(MANDIR)/man8 $(DESTDIR)$(MANDIR)/man5 $(DESTDIR)$(DOCDIR) $(DESTDIR)$(SYSCONFDIR)/leakprofd
	$(INSTALL) -m 0755 $(BUILD)/leakprofd $(DESTDIR)$(BINDIR)/leakprofd
	$(install_unit)
	$(INSTALL) -m 0644 deploy/sysusers.conf $(DESTDIR)$(SYSUSERSDIR)/leakprofd.conf
	$(INSTALL) -m 0644 deploy/leakprofd.8 $(DESTDIR)$(MANDIR)/man8/leakprofd.8
	$(INSTALL) -m 0644 deploy/leakprofd.yaml.5 $(DESTDIR)$(MANDIR)/man5/leakprofd.yaml.5
	$(INSTALL) -m 0644 deploy/leakprofd.yaml $(DESTDIR)$(DOCDIR)/leakprofd.yaml.example
	@if [ -e $(DESTDIR)$(SYSCONFDIR)/leakprofd/leakprofd.yaml ]; then \
		echo "install: keeping the existing $(DESTDIR)$(SYSCONFDIR)/leakprofd/leakprofd.yaml" \
			"(the new example is $(DESTDIR)$(DOCDIR)/leakprofd.yaml.example)"; \
	else \
		echo "$(INSTALL) -m 0644 deploy/leakprofd.yaml $(DESTDIR)$(SYSCONFDIR)/leakprofd/leakprofd.yaml"; \
		$(INSTALL) -m 0644 deploy/leakprofd.yaml $(DESTDIR)$(SYSCONFDIR)/leakprofd/leakprofd.yaml; \
	fi
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then \
		systemd-sysusers $(SYSUSERSDIR)/leakprofd.conf && systemctl daemon-reload && \
		echo "install: now edit $(SYSCONFDIR)/leakprofd/leakprofd.yaml, then: systemctl enable --now leakprofd"; \
	elif [ -z "$(DESTDIR)" ]; then \
		echo "install: systemd is not running here; on the target run: systemd-sysusers;" \
			"systemctl daemon-reload; systemctl enable --now leakprofd"; \
	fi

uninstall:
	rm -f $(DESTDIR)$(BINDIR)/leakprofd $(DESTDIR)$(UNITDIR)/leakprofd.service \
		$(DESTDIR)$(SYSUSERSDIR)/leakprofd.conf $(DESTDIR)$(MANDIR)/man8/leakprofd.8 \
		$(DESTDIR)$(MANDIR)/man5/leakprofd.yaml.5 $(DESTDIR)$(DOCDIR)/leakprofd.yaml.example
	rmdir $(DESTDIR)$(DOCDIR) 2>/dev/null || true
	@if [ -z "$(DESTDIR)" ] && [ -d /run/systemd/system ]; then systemctl daemon-reload; fi
	@echo "uninstall: kept $(DESTDIR)$(SYSCONFDIR)/leakprofd/ and /var/lib/leakprofd/ (configuration and" \
		"database) and the user leakprofd"

# The package: the same files under /usr (unit in /lib/systemd/system, as Debian 12 packages do), man pages
# compressed, the config a conffile, and maintainer scripts that create the user, enable without starting, keep
# the database on remove and delete it on purge. dpkg-shlibdeps computes Depends when dpkg-dev is installed.
deb: $(BUILD)/leakprofd
	rm -rf $(BUILD)/deb
	$(MAKE) --no-print-directory install DESTDIR=$(abspath $(DEB_ROOT)) PREFIX=/usr UNITDIR=/lib/systemd/system \
		SYSCONFDIR=/etc BUILD=$(BUILD) -o $(BUILD)/leakprofd
	strip --strip-unneeded $(DEB_ROOT)/usr/bin/leakprofd
	gzip -9n $(DEB_ROOT)/usr/share/man/man8/leakprofd.8 $(DEB_ROOT)/usr/share/man/man5/leakprofd.yaml.5
	$(INSTALL) -d -m 0755 $(DEB_ROOT)/DEBIAN
	$(INSTALL) -m 0755 deploy/debian/postinst deploy/debian/prerm deploy/debian/postrm $(DEB_ROOT)/DEBIAN/
	$(INSTALL) -m 0644 deploy/debian/conffiles $(DEB_ROOT)/DEBIAN/conffiles
	depends=$$(sh deploy/debian/depends.sh $(DEB_ROOT)/usr/bin/leakprofd) && \
	size=$$(du -sk --exclude=DEBIAN $(DEB_ROOT) | cut -f1) && \
	sed -e 's|@VERSION@|$(DEB_VERSION)|' -e 's|@ARCH@|$(DEB_ARCH)|' -e "s|@DEPENDS@|$$depends|" \
		-e "s|@SIZE@|$$size|" deploy/debian/control.in > $(DEB_ROOT)/DEBIAN/control
	@mkdir -p build && rm -f build/leakprofd_*.deb
	dpkg-deb --root-owner-group -Zxz --build $(DEB_ROOT) $(DEB_FILE)
	@echo "deb: $(DEB_FILE)"

#!/bin/bash
# cross-libnbd.sh — unpacks Debian's libnbd0 and libnbd-dev for a foreign
# architecture into DIR, for cross builds and for running the cross-built
# tests under qemu-user.
#
#   tests/cross-libnbd.sh ARCH DIR
#
# Why not `apt-get install libnbd-dev:ARCH` like the other -dev packages:
# Debian 12's libnbd0 and libnbd-dev are not "Multi-Arch: same", so the
# arm64 or armhf one would replace the machine's own (and the amd64 build
# with it).  Unpacked here instead, nothing on the machine changes:
#
#   DIR/usr/include/libnbd.h
#   DIR/usr/lib/TRIPLET/libnbd.so*      (-L at link time, LD_LIBRARY_PATH
#                                        under qemu-user)
#   DIR/pkgconfig/libnbd.pc             (prefix rewritten to DIR/usr)
#   DIR/DEBIAN/{shlibs,symbols}         libnbd0's, so dpkg-shlibdeps -SDIR
#                                        turns the library into a Depends
#
# libnbd0's own dependencies (libgnutls30, libxml2) are Multi-Arch: same
# and installed by tests/install-deps.sh --cross.  Quick when DIR is there.
set -euo pipefail
arch=$1 dir=$2
[ -f "$dir/.done" ] && exit 0
rm -rf "$dir" && mkdir -p "$dir/debs" "$dir/pkgconfig"
# apt-get download writes as _apt when it can; a scratch dir it may write.
dl=$(mktemp -d) && chmod 777 "$dl"
(cd "$dl" && apt-get download -q "libnbd0:$arch" "libnbd-dev:$arch" >/dev/null)
mv "$dl"/*.deb "$dir/debs/" && rmdir "$dl"
dpkg-deb -R "$dir"/debs/libnbd0_*_"$arch".deb "$dir"
dpkg-deb -x "$dir"/debs/libnbd-dev_*_"$arch".deb "$dir"
pc=$(find "$dir/usr/lib" -name libnbd.pc)
sed -e "s|^prefix=.*|prefix=$dir/usr|" \
    -e 's|^Cflags:.*|Cflags: -I${includedir}|' \
    -e 's|^Libs:.*|Libs: -L${libdir} -lnbd|' "$pc" >"$dir/pkgconfig/libnbd.pc"
touch "$dir/.done"

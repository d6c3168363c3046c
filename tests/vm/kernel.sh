#!/bin/bash
# kernel.sh — fetch Debian's stock kernel and build a tiny initramfs for the
# end-to-end VM (see docs/testing.md).
#
# Prints two lines on stdout, for `eval`:
#   NETSTICK_VM_KERNEL=/path/to/vmlinuz
#   NETSTICK_VM_INITRD=/path/to/initramfs.cpio.gz
# Everything else goes to stderr.
#
# Cache: $NETSTICK_VM_CACHE, else $XDG_CACHE_HOME/netstick-vm, else
# ~/.cache/netstick-vm.  The kernel .deb is downloaded once; the initramfs is
# rebuilt whenever one of its inputs changes (kernel version, module list,
# guest init, this script, busybox).
#
# Environment:
#   NETSTICK_VM_KERNEL_PKG  versioned image package (default: whatever
#                           linux-image-amd64 depends on)
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CACHE=${NETSTICK_VM_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/netstick-vm}
BUSYBOX=${NETSTICK_VM_BUSYBOX:-/bin/busybox}
INIT_SCRIPT=$HERE/guest-init.sh

# Modules the guest needs.  Boot-critical ones first (virtio, 9p, overlay);
# the USB host and gadget stacks, SCSI, filesystems and test tools after.
# dummy_hcd is last and loaded by the init with its speed parameter.
MODULES=(
	virtio_pci 9pnet_virtio 9p overlay configfs
	libcomposite usb_f_fs usb_f_mass_storage
	usb-storage uas sd_mod sr_mod sg
	loop nbd sch_netem
	virtio_console            # tests/vm/fwboot.sh: the usb-redir port
	vfat nls_cp437 nls_ascii nls_utf8 nls_iso8859-1 ext4 isofs
	dummy_hcd
)

log() { echo "kernel.sh: $*" >&2; }
die() { log "error: $*"; exit 1; }

# The versioned package that linux-image-amd64 depends on, e.g.
# linux-image-6.1.0-56-amd64.  Falls back to the newest cached .deb when apt
# cannot answer (offline machine with a warm cache).
kernel_pkg() {
	if [[ -n ${NETSTICK_VM_KERNEL_PKG:-} ]]; then
		echo "$NETSTICK_VM_KERNEL_PKG"
		return
	fi
	local pkg
	pkg=$(apt-cache depends linux-image-amd64 2>/dev/null |
		awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
	if [[ -z $pkg ]]; then
		pkg=$(find "$CACHE/debs" -name 'linux-image-*.deb' 2>/dev/null |
			sort -V | tail -n 1 | xargs -r -n1 basename | cut -d_ -f1)
	fi
	[[ -n $pkg ]] || die "cannot resolve linux-image-amd64 (run apt-get update?)"
	echo "$pkg"
}

# Download the package once; print the path of the .deb.
fetch_deb() {
	local pkg=$1 deb
	mkdir -p "$CACHE/debs"
	deb=$(find "$CACHE/debs" -name "${pkg}_*.deb" | sort -V | tail -n 1)
	if [[ -z $deb ]]; then
		log "downloading $pkg"
		(cd "$CACHE/debs" && apt-get download "$pkg" >&2 2>/dev/null) ||
			(cd "$CACHE/debs" && apt-get download "$pkg" >&2) ||
			die "apt-get download $pkg failed"
		deb=$(find "$CACHE/debs" -name "${pkg}_*.deb" | sort -V | tail -n 1)
	fi
	[[ -f $deb ]] || die "no .deb for $pkg"
	echo "$deb"
}

# Module files (relative to lib/modules/KVER) in load order, dependencies
# first, each once.  Built-in modules are skipped.
resolve_modules() {
	local root=$1 kver=$2 m
	depmod -b "$root" "$kver"
	for m in "${MODULES[@]}"; do
		modprobe -d "$root" -S "$kver" --show-depends "$m" ||
			die "module $m not found in $kver"
	done | awk -v key="/lib/modules/$kver/" '
		# The path after the last /lib/modules/KVER/ (some kmod versions
		# print the root twice; KVER may hold regex characters).
		$1 == "insmod" {
			f = $2
			while ((i = index(f, key)) > 0)
				f = substr(f, i + length(key))
			sub(/^\/+/, "", f)
			if (!seen[f]++) print f
		}'
}

# Assemble the cpio tree: static busybox, /init, the modules (with their
# depmod indexes so modprobe works in the guest) and the load order.
build_initramfs() {
	local root=$1 kver=$2 out=$3 tree f
	tree=$(mktemp -d)
	mkdir -p "$tree"/{bin,dev,proc,sys,mnt,newroot,lib/modules/"$kver"}
	cp "$BUSYBOX" "$tree/bin/busybox"
	cp "$INIT_SCRIPT" "$tree/init"
	chmod 755 "$tree/init" "$tree/bin/busybox"
	resolve_modules "$root" "$kver" >"$tree/modules.load"
	while read -r f; do
		mkdir -p "$tree/lib/modules/$kver/$(dirname "$f")"
		cp "$root/lib/modules/$kver/$f" "$tree/lib/modules/$kver/$f"
	done <"$tree/modules.load"
	cp "$root/lib/modules/$kver"/modules.{order,builtin,builtin.modinfo} \
		"$tree/lib/modules/$kver/"
	depmod -b "$tree" "$kver"
	echo "$kver" >"$tree/kver"
	(cd "$tree" && find . -print0 | sort -z |
		cpio --null -o -H newc --quiet | gzip -1) >"$out.tmp"
	mv "$out.tmp" "$out"
	log "built $out ($(wc -l <"$tree/modules.load") modules, $(du -h "$out" | cut -f1))"
	rm -rf "$tree"
}

# Everything that changes the initramfs goes into its name.
initramfs_key() {
	local pkg=$1
	{
		echo "$pkg"
		printf '%s\n' "${MODULES[@]}"
		cat "$INIT_SCRIPT" "${BASH_SOURCE[0]}"
		sha256sum <"$BUSYBOX"
	} | sha256sum | cut -c1-16
}

main() {
	local pkg deb kver key dir initrd
	command -v qemu-system-x86_64 >/dev/null ||
		log "warning: qemu-system-x86_64 missing (apt-get install qemu-system-x86)"
	[[ -x $BUSYBOX ]] || die "$BUSYBOX missing (apt-get install busybox-static)"
	mkdir -p "$CACHE"
	# Concurrent runs wait for one another instead of racing on the cache.
	exec 9>"$CACHE/.lock"
	flock -w 600 9 || die "cache $CACHE is locked"
	pkg=$(kernel_pkg)
	kver=${pkg#linux-image-}
	dir=$CACHE/$kver
	key=$(initramfs_key "$pkg")
	initrd=$dir/initramfs-$key.cpio.gz
	if [[ ! -f $dir/vmlinuz || ! -f $initrd ]]; then
		deb=$(fetch_deb "$pkg")
		UNPACKED=$(mktemp -d "${TMPDIR:-/tmp}/netstick-vm-kernel.XXXXXX")
		trap 'rm -rf "$UNPACKED"' EXIT
		log "unpacking $(basename "$deb")"
		dpkg -x "$deb" "$UNPACKED"
		mkdir -p "$dir"
		cp "$UNPACKED/boot/vmlinuz-$kver" "$dir/vmlinuz.tmp"
		mv "$dir/vmlinuz.tmp" "$dir/vmlinuz"
		rm -f "$dir"/initramfs-*.cpio.gz
		build_initramfs "$UNPACKED" "$kver" "$initrd"
	fi
	echo "NETSTICK_VM_KERNEL=$dir/vmlinuz"
	echo "NETSTICK_VM_INITRD=$initrd"
}

main "$@"

#!/bin/bash
# Variables below are read by lib.sh functions.
# shellcheck disable=SC2034
# demo.sh — watch a USB host use netstickd.
#
#   tests/vm/demo.sh [--kvm]
#
# With a real UDC on this machine (/sys/class/udc not empty), just runs
# build/netstickd with the repo's config.yaml on the real port.
# Otherwise boots the test VM and, inside it, starts netstickd with the
# shipped config.yaml changed in two places (udc: dummy_udc.0, the LUN's
# media: a small FAT image built on the spot with a README.txt), then shows
# the host side: enumeration in dmesg, lsusb, sysfs, the files on the disk,
# a file written and read back; then stops the daemon cleanly.
# Without build/netstickd the VM part shows the kernel's gadget instead.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

# ================================================================ host side

host_main() {
	if [[ -n $(ls /sys/class/udc 2>/dev/null) ]]; then
		echo "demo: real UDC found ($(ls /sys/class/udc | tr '\n' ' ')): running netstickd on it"
		echo "demo: plug this port into a computer; Ctrl-C stops the daemon"
		exec "$REPO/build/netstickd" -c "$REPO/config.yaml" -f
	fi
	echo "demo: no UDC on this machine: booting the test VM (dummy_hcd host)"
	exec "$HERE/run-vm.sh" "$@" --timeout 300 "$HERE/demo.sh"
}

if [[ -z ${NETSTICK_VM:-} ]]; then
	host_main "$@"
fi

# ================================================================ guest side

# shellcheck source=lib.sh
source "$HERE/lib.sh"
DEMO=/run/netstick-demo
IMAGES=/var/lib/netstick/images	# the shipped config's api.allowed_dir
MNT=$DEMO/mnt
SIDE=netstickd
GADGET_NAME=netstick		# the shipped config's gadget.name
FFS_DIR=/run/netstick/ffs	# and its functionfs_dir

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
show() { echo "\$ $*"; "$@"; }

make_demo_image() {
	mkdir -p "$DEMO" "$MNT"
	cat >"$DEMO/README.txt" <<-EOF
	Hello from netstick!

	This FAT disk image was built by tests/vm/demo.sh with mkfs.vfat and
	mcopy, and is served over USB by netstickd through FunctionFS.
	EOF
	mkfs.vfat -C -n NETSTICK "$DEMO/demo.img" 32768 >/dev/null
	mcopy -i "$DEMO/demo.img" "$DEMO/README.txt" ::README.txt
	# A second image for the API part, in the catalog of the demo config.
	mkdir -p "$IMAGES"
	echo "This is the second image, inserted through the admin API." >"$DEMO/SECOND.txt"
	mkfs.vfat -C -n SECOND "$IMAGES/second.img" 16384 >/dev/null
	mcopy -i "$IMAGES/second.img" "$DEMO/SECOND.txt" ::SECOND.txt
}

# The shipped config with the UDC and the media swapped.
make_demo_config() {
	sed -e 's|^\(  udc:\) *auto\b|\1 dummy_udc.0|' \
		-e "0,/^    media:/s|^\\(    media:\\) *\"\"|\\1 $DEMO/demo.img|" \
		-e "s|^images: \\[\\]|images:\\n  - name: second\\n    source: $IMAGES/second.img\\n    description: a second FAT disk for the API demo|" \
		"$REPO/config.yaml" >"$DEMO/config.yaml"
	show diff -u "$REPO/config.yaml" "$DEMO/config.yaml" || true
}

start_server() {
	if [[ $SIDE == netstickd ]]; then
		say "starting netstickd -c $DEMO/config.yaml -f"
		mkdir -p "$FFS_DIR"
		"$NETSTICKD" -c "$DEMO/config.yaml" -f >"$DEMO/netstickd.log" 2>&1 &
		NETSTICKD_PID=$!
	else
		say "build/netstickd is not built (run make): showing the kernel's f_mass_storage instead"
		GADGET_PRODUCT="Virtual Disk"
		kgadget_start "media=$DEMO/demo.img"
	fi
}

stop_server() {
	if [[ $SIDE == netstickd ]]; then
		say "stopping netstickd (SIGTERM)"
		local rc=0
		netstickd_stop || rc=$?
		echo "netstickd exited with status $rc"
		echo "--- netstickd log"
		cat "$DEMO/netstickd.log"
	else
		kgadget_stop
	fi
	disk_wait_gone 10 && echo "the host's disk is gone" || echo "the host's disk is still there!"
	[[ -d $CONFIGFS/$GADGET_NAME ]] && echo "configfs gadget left behind!" || echo "configfs gadget removed"
}

show_host_side() {
	local sd=$1 u
	u=$(usbdev_of "$sd")
	say "the host enumerated it (dmesg)"
	dmesg | grep -E 'usb 1-1|usb-storage|scsi|sd [0-9]|\[sd' | tail -n 25
	if command -v lsusb >/dev/null; then
		say "lsusb"
		lsusb 2>/dev/null || true
		lsusb -t 2>/dev/null || true
	fi
	say "sysfs"
	echo "usb device $u: $(cat "$u/idVendor"):$(cat "$u/idProduct") speed $(cat "$u/speed") Mb/s"
	echo "  manufacturer: $(cat "$u/manufacturer" 2>/dev/null)  product: $(cat "$u/product" 2>/dev/null)  serial: $(cat "$u/serial" 2>/dev/null)"
	echo "/dev/$sd: vendor '$(trim <"/sys/block/$sd/device/vendor")' model '$(trim <"/sys/block/$sd/device/model")'" \
		"size $(($(cat "/sys/block/$sd/size") / 2)) KiB removable $(cat "/sys/block/$sd/removable") ro $(cat "/sys/block/$sd/ro")"
}

use_disk() {
	local dev=/dev/$1
	say "the host mounts /dev/$1 and lists it"
	show mount -t vfat "$dev" "$MNT"
	show ls -l "$MNT"
	show cat "$MNT/README.txt"
	say "the host writes a file, unmounts, mounts again and reads it back"
	date -u "+written by the host at %F %T UTC" >"$MNT/hello.txt"
	show umount "$MNT"
	show mount -t vfat "$dev" "$MNT"
	show cat "$MNT/hello.txt"
	show umount "$MNT"
	say "and the file is in the image netstickd serves (mtools, gadget side)"
	show mdir -i "$DEMO/demo.img" ::
}

# The admin API (shipped config: 127.0.0.1:8080, token generated into
# /var/lib/netstick/token on first start), driven with the netstick CLI.
api_demo() {
	local sd=$1 cli="$REPO/build/netstick"
	[[ $SIDE == netstickd && -x $cli ]] || { echo "(no netstick CLI: skipping the API part)"; return 0; }
	say "the operator's side: netstick status / images (admin API on 127.0.0.1:8080)"
	show "$cli" status
	show "$cli" images
	say "eject LUN 0 through the API: the host sees the medium go"
	show "$cli" eject 0
	sleep 1
	show dd if="/dev/$sd" of=/dev/null bs=512 count=1 iflag=direct || true
	say "insert the catalog image \"second\": the host gets a unit attention and re-reads"
	show "$cli" insert 0 second
	disk_wait_size "$sd" 20 || true
	show mount -t vfat -o ro "/dev/$sd" "$MNT"
	show ls -l "$MNT"
	show cat "$MNT/SECOND.txt"
	show umount "$MNT"
	show "$cli" luns 0
}

main() {
	local sd
	netstickd_available || SIDE=kernel
	echo 0 >/sys/module/usb_storage/parameters/delay_use
	say "building the demo image (mkfs.vfat + mcopy)"
	make_demo_image
	[[ $SIDE == netstickd ]] && make_demo_config
	start_server
	if ! sd=$(disk_wait 0 30); then
		echo "demo: no disk appeared on the host side"
		[[ -f $DEMO/netstickd.log ]] && cat "$DEMO/netstickd.log"
		dmesg | tail -n 30
		stop_server
		exit 1
	fi
	disk_wait_size "$sd" 20
	show_host_side "$sd"
	use_disk "$sd"
	api_demo "$sd"
	stop_server
	say "demo done"
}

main

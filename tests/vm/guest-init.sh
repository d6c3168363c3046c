#!/bin/busybox sh
# /init of the netstick test VM (copied into the initramfs by kernel.sh).
#
# 1. load the modules listed in /modules.load (dummy_hcd with the speed asked
#    for on the kernel command line: netstick.speed=high|super),
# 2. mount the host's root (9p tag "hostroot", read-only) under a tmpfs
#    overlay at /newroot, with the guest's own /proc, /sys, configfs, /dev,
#    /run, and the writable results share (9p tag "results") at the host path
#    given by netstick.results=PATH,
# 3. run PATH/.vm/run.sh (written by run-vm.sh) in the chroot, or an
#    interactive shell with netstick.shell=1,
# 4. store the exit status in PATH/.vm/rc and power off.
/bin/busybox --install -s /bin
export PATH=/bin

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev

die() {
	echo "guest-init: $*" >/dev/console
	poweroff -f
	sleep 5
}

arg() {	# arg NAME: value of netstick.NAME= on the kernel command line
	tr ' ' '\n' </proc/cmdline | sed -n "s/^netstick\.$1=//p" | tail -n 1
}

SPEED=$(arg speed)
RESULTS=$(arg results)
SHELL_MODE=$(arg shell)
KVER=$(cat /kver)
echo 1 >/proc/sys/kernel/printk	# keep kernel chatter off the script's output

load_modules() {
	local f param
	while read -r f; do
		param=
		case $f in
		*/dummy_hcd.ko) [ "$SPEED" = super ] && param=is_super_speed=1 ;;
		esac
		insmod "/lib/modules/$KVER/$f" $param || echo "guest-init: insmod $f failed"
	done </modules.load
}

mount_root() {
	local o9p="trans=virtio,version=9p2000.L,msize=262144"
	mkdir -p /mnt/host /mnt/rw
	mount -t 9p -o "$o9p,ro,cache=loose" hostroot /mnt/host || die "9p hostroot"
	mount -t tmpfs -o mode=755 tmpfs /mnt/rw
	mkdir -p /mnt/rw/upper /mnt/rw/work
	mount -t overlay overlay \
		-o lowerdir=/mnt/host,upperdir=/mnt/rw/upper,workdir=/mnt/rw/work \
		/newroot || die "overlay"
	mount -t proc proc /newroot/proc
	mount -t sysfs sysfs /newroot/sys
	mount -t configfs configfs /newroot/sys/kernel/config
	mount -t devtmpfs devtmpfs /newroot/dev
	mkdir -p /newroot/dev/pts /newroot/dev/shm
	mount -t devpts devpts /newroot/dev/pts
	ln -sf /proc/self/fd /newroot/dev/fd
	ln -sf /proc/self/fd/0 /newroot/dev/stdin
	ln -sf /proc/self/fd/1 /newroot/dev/stdout
	ln -sf /proc/self/fd/2 /newroot/dev/stderr
	mount -t tmpfs tmpfs /newroot/dev/shm
	mount -t tmpfs -o mode=755 tmpfs /newroot/run
	mkdir -p "/newroot/lib/modules/$KVER"
	mount --bind "/lib/modules/$KVER" "/newroot/lib/modules/$KVER"
	if [ -n "$RESULTS" ]; then
		mkdir -p "/newroot$RESULTS"
		mount -t 9p -o "$o9p,cache=none" results "/newroot$RESULTS" ||
			die "9p results"
	fi
}

load_modules
ip link set lo up 2>/dev/null
mount_root

if [ "$SHELL_MODE" = 1 ]; then
	echo "netstick VM: shell in the chroot (exit or Ctrl-D powers off)"
	setsid cttyhack chroot /newroot /bin/bash --rcfile "$RESULTS/.vm/shellrc" -i
	rc=$?
else
	stty -onlcr </dev/console 2>/dev/null
	chroot /newroot /bin/bash "$RESULTS/.vm/run.sh" </dev/null
	rc=$?
fi
[ -n "$RESULTS" ] && echo "$rc" >"/newroot$RESULTS/.vm/rc"
sync
poweroff -f

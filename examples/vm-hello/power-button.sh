#!/bin/sh
# acpid runs this on a power-button press (QMP system_powerdown): a clean, quick stop.
echo "vm-hello: power button pressed, shutting down" >/dev/console
sync
poweroff -f

"""The boot test: the Debian package installed with apt on a booted Debian under QEMU."""

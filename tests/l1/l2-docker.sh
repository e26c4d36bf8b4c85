# The L2's job in the loader tests: one container. The rootfs has no
# images and the L2 no network, so the image is the rootfs's own static
# busybox, imported from a tarball.
mkdir -p /tmp/img/bin && cp /usr/bin/busybox /tmp/img/bin/ || exit 1
tar -C /tmp/img -c . | docker import - l2 >/dev/null || exit 1
docker run --rm --network none l2 /bin/busybox echo hello from an L2 container

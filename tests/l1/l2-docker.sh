# The L2's job in the loader tests: build a busybox image, run a container.
mkdir -p /tmp/ctx && cp /usr/bin/busybox /tmp/ctx/
printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >/tmp/ctx/Dockerfile
DOCKER_BUILDKIT=0 docker build -q -t l2 /tmp/ctx >/dev/null || exit 1
docker run --rm l2 echo hello from an L2 container

# One image for both processes: `vrm serve` and `cna-agent run` (see docker-compose.yml).
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# libvirt-dev, pkg-config and gcc build libvirt-python for the agent; libvirt-dev also
# brings the libvirt client library it links against at run time. The agent also runs
# ovs-vsctl (openvswitch-switch; the daemons stay on the host), ip (iproute2) and
# qemu-img (qemu-utils), which validates images before any VM may use them.
RUN apt-get update \
    && apt-get install -y --no-install-recommends libvirt-dev pkg-config gcc \
       openvswitch-switch iproute2 qemu-utils \
    && rm -rf /var/lib/apt/lists/*

# The whole source tree stays in /app: migrations/ and web/ live beside the packages and
# vrm/paths.py finds them relative to the source, so the install must be editable.
WORKDIR /app
COPY . /app
RUN pip install -e . \
    && useradd --system --home-dir /app --shell /usr/sbin/nologin openvrm \
    && mkdir -p /app/var \
    && chown openvrm /app/var \
    && vrm --version

EXPOSE 8000 7070
CMD ["vrm", "serve", "--host", "0.0.0.0"]

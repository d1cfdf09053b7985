# citywall: the video side of a city's digital urban-management command hall, as one container.
#   docker build -t citywall:0.1.0 .
#   docker run -v /etc/citywall:/config:ro -v citywall-data:/data -p 127.0.0.1:8080:8080 citywall:0.1.0
# Configuration (cameras.yaml, server.yaml, analytics.yaml) is mounted at /config, read-only; the database (SQLite
# unless server.database_url names PostgreSQL) and evidence live on /data. Secrets come only from the environment
# at run time (${CITYWALL_CAM_PASSWORD} etc. in the YAML); nothing secret is built into the image. See docs/deployment.md.
FROM python:3.11-slim-bookworm

# ORT_DISABLE_TELEMETRY: ONNX Runtime would otherwise keep a telemetry device id under $HOME (the service user
# has none, so it warns on every start); a command hall's video network has no business with telemetry.
# TZ: zone schedules (analytics.yaml) are the hall's local time; China Standard Time, in POSIX form so it needs
# no tzdata in the image. A site elsewhere sets its own (docker run -e TZ=...).
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CITYWALL_DATA_DIR=/data \
    CITYWALL_LOG_FORMAT=json \
    ORT_DISABLE_TELEMETRY=1 \
    TZ=CST-8

# One apt package: a CJK font (WenQuanYi Micro Hei), with which the evidence pictures' captions are drawn in
# Chinese (vision/evidence.py looks for it under /usr/share/fonts; without one they fall back to ASCII). The PyAV,
# onnxruntime, psycopg and OpenCV-headless wheels bundle FFmpeg, libpq and the rest, and need only glibc,
# libstdc++ and zlib, which the base image has.
RUN apt-get update \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends fonts-wqy-microhei \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 citywall \
    && useradd --system --uid 10001 --gid citywall --home-dir /nonexistent --no-create-home \
       --shell /usr/sbin/nologin citywall \
    && mkdir -p /config /data \
    && chown citywall:citywall /data

WORKDIR /opt/citywall

# Dependencies first (a layer that survives code changes): the lists in pyproject.toml, plus the extras named in
# EXTRAS (postgres by default; the cluster image of deploy/cluster/ and deploy/kuberay/ adds scale, i.e. Ray, and
# is built with --build-arg EXTRAS="postgres scale"). trackers pulls in the GUI OpenCV, whose Qt needs libGL and
# X libraries: swapped for the headless build of the same version, which is all the service uses.
ARG EXTRAS=postgres
COPY pyproject.toml ./
RUN python -c "import os, tomllib; p = tomllib.load(open('pyproject.toml', 'rb'))['project']; \
extras = [d for e in os.environ['EXTRAS'].split() for d in p['optional-dependencies'][e]]; \
print('\n'.join(p['dependencies'] + extras))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && version="$(python -c 'import importlib.metadata as m; print(m.version("opencv-python-headless"))')" \
    && pip uninstall -y opencv-python opencv-python-headless \
    && pip install --no-deps "opencv-python-headless==${version}" \
    && rm /tmp/requirements.txt

# The code with its package data (pages, migrations, the default model card and event codes), installed in place;
# owned by root, so the service cannot change its own code.
COPY . .
RUN pip install --no-deps -e . \
    && python -c "import av, cv2, onnxruntime, psycopg, wall.app; print('citywall image ok', av.__version__, cv2.__version__)" \
    && case " ${EXTRAS} " in *" scale "*) python -c "import ray; print('with ray', ray.__version__)";; esac

USER citywall
VOLUME ["/config", "/data"]
EXPOSE 8080

HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8080/healthz', timeout=4).status != 200)"]

ENTRYPOINT ["citywall"]
CMD ["serve", "--config", "/config", "--host", "0.0.0.0", "--port", "8080"]

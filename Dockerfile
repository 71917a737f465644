# Modeldesk's image: `streamlit run app.py` on port 8501 as an unprivileged user, in production
# mode, with the SQLite default in the /data volume (docs/operations.md):
#
#   docker build -t modeldesk .
#   docker run -p 8501:8501 -v modeldesk-data:/data -e MODELDESK_SECRET_KEY modeldesk
#
# No secret is built in (.dockerignore keeps .streamlit/secrets.toml, data/ and .env out of
# the build): the secret key and a PostgreSQL URL come from the environment at run time.
# Without a Docker engine, `python -m tests.support.image_rehearsal` builds and runs a stand-in
# of this image as its unprivileged user (docs/operations.md, "Rehearsing the image").
# Python 3.11, the version the tests and mypy run on (pyproject.toml: requires-python >= 3.11).
FROM python:3.11.14-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    MODELDESK_ENV=production \
    MODELDESK_DATA_DIR=/data \
    FORWARDED_ALLOW_IPS=""
WORKDIR /app

# The dependencies of pyproject.toml first, in a layer that changes only when they do.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" > /tmp/requirements.txt \
    && pip install -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

COPY core ./core
COPY app.py ./
COPY pages ./pages
COPY .streamlit/config.toml ./.streamlit/config.toml
# Editable, so the `modeldesk` command and the app run the same /app/core and read the same
# .streamlit folder (a copy in site-packages would have its own).
RUN pip install --no-deps -e .

# A fixed, unprivileged uid: a bind-mounted data folder must belong to 10001.
RUN groupadd --system --gid 10001 modeldesk \
    && useradd --system --uid 10001 --gid modeldesk --create-home --home-dir /home/modeldesk modeldesk \
    && mkdir -p /data \
    && chown modeldesk:modeldesk /data \
    && chmod 0700 /data
USER 10001:10001
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK --interval=30s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health', timeout=4)"]
# Migrate (and run the environment bootstraps), then serve; exec: streamlit gets the signals.
CMD ["sh", "-c", "modeldesk db upgrade && exec streamlit run app.py --server.address=0.0.0.0 --server.port=8501"]

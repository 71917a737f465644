# Modeldesk: `docker build -t modeldesk . && docker run -p 8501:8501 -e MODELDESK_SECRET_KEY=... modeldesk`
FROM python:3.11-slim
WORKDIR /app
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 MODELDESK_ENV=production \
    MODELDESK_DATA_DIR=/data FORWARDED_ALLOW_IPS=""
COPY pyproject.toml README.md ./
COPY core ./core
RUN pip install --no-cache-dir .
COPY app.py ./
COPY pages ./pages
COPY .streamlit ./.streamlit
RUN useradd --create-home modeldesk && mkdir -p /data && chown modeldesk /data
USER modeldesk
VOLUME ["/data"]
EXPOSE 8501
HEALTHCHECK CMD python -c "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8501/_stcore/health')"
CMD ["sh", "-c", "modeldesk db upgrade && streamlit run app.py --server.address=0.0.0.0 --server.port=8501"]

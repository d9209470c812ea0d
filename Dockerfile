FROM python:3.11-slim
WORKDIR /app
# CPU build of torch first, so the pinned version never pulls CUDA wheels.
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY pyproject.toml README.md ./
COPY gateway gateway
COPY plugins plugins
COPY fhir_mappings fhir_mappings
# The live page's pinned Face Mesh files from npm (sha512-checked), packaged with the gateway: no CDN at run time.
RUN python gateway/web/ui/face_mesh_assets.py
RUN pip install --no-cache-dir . && useradd --system gateway && mkdir /data && chown gateway /data
USER gateway
EXPOSE 8000
CMD ["pain-gateway", "serve"]

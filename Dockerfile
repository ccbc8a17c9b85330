# GPU-capable image of cmpe_lightning; the entry point is the `cmpe` CLI.
#   docker build -t cmpe-lightning .
#   docker run --gpus all -v "$PWD/runs:/app/runs" cmpe-lightning fit --config configs/two_moons/cmpe.yaml --trainer.accelerator gpu
# PyPI's torch wheels for Linux bundle CUDA; the host needs only the NVIDIA driver and container toolkit.
# Simulation banks: docker run --entrypoint cmpe-simulate -v "$PWD/banks:/app/banks" cmpe-lightning \
#   --simulator cmpe_lightning.TumorSpheroid --num 2000 --workers 8 --out banks/tumor
# Images: docker run --gpus all -v "$PWD/runs:/app/runs" cmpe-lightning fit --config configs/fashion_mnist/cmpe_unet.yaml

FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY cmpe_lightning ./cmpe_lightning
RUN python -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir .

FROM python:3.11-slim
# Fashion-MNIST for the image configs (found in /usr/share/datasets/fashion-mnist without a root folder)
RUN apt-get update && apt-get install -y --no-install-recommends dataset-fashion-mnist && rm -rf /var/lib/apt/lists/*
RUN useradd --create-home --uid 1000 cmpe
COPY --from=build /opt/venv /opt/venv
# Numba caches the tumor model's compiled kernels; the installed package is read-only for the user
ENV PATH=/opt/venv/bin:$PATH PYTHONUNBUFFERED=1 NUMBA_CACHE_DIR=/tmp/numba-cache
WORKDIR /app
COPY --chown=cmpe:cmpe configs ./configs
USER cmpe
ENTRYPOINT ["cmpe"]
CMD ["--help"]

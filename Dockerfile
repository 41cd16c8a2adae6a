# One image for every tier; the compose command picks edge or origin and its config.
FROM node:20-bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ffmpeg && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund
COPY . .
# Runtime data (recordings, audit trail) goes under /home/node, the node user's own directory
# (docker-compose mounts a named volume there); the code stays read-only to the service.
USER node
CMD ["node", "--import", "tsx", "bin/origin.ts", "--config", "configs/origin1.docker.json"]

# loglens image: `node dist/main.js` on Node 24, run as the non-root `node` user (uid 1000).
#
#   docker build -t loglens .
#   docker run --rm loglens --help
#   docker run --rm -e KAFKA_BROKERS=broker:9092 loglens generate --mode production --rate 50
#
# Plain Dockerfile syntax (no BuildKit-only features such as RUN --mount), so it
# builds with the classic builder too (docker-compose 1.29).
# The build steps are the ones CI runs: `npm ci`, then the TypeScript build.

ARG NODE_IMAGE=node:24-slim

# -- build: all dependencies, compile src/ to dist/ ------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY tsconfig*.json ./
COPY src ./src
# What `npm run build` does, called directly so a wrapper around the script
# (for example a Node-version shim) cannot change the container build.
RUN npx tsc -p tsconfig.build.json

# -- prod-deps: runtime dependencies only ---------------------------------------
FROM ${NODE_IMAGE} AS prod-deps
WORKDIR /app
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --no-audit --no-fund

# -- runtime --------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
ENV NODE_ENV=production
WORKDIR /app
# Application files stay owned by root (read-only for the app); only the
# default output and checkpoint folders are writable by `node` (uid 1000).
COPY package.json ./
COPY --from=prod-deps /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# The dashboard page that `--http` serves (uPlot comes from node_modules).
COPY dashboard ./dashboard
RUN mkdir -p /app/output /app/checkpoint \
 && chown node:node /app/output /app/checkpoint
# The base image's `node` user, numerically, so runtimes that check for a
# non-root user (Kubernetes runAsNonRoot) can verify it.
USER 1000:1000
# As the CLI's shebang: kafkajs 2.2.4 sets harmless negative timers, and Node would warn about each.
ENTRYPOINT ["node", "--disable-warning=TimeoutNegativeWarning", "dist/main.js"]
CMD ["--help"]

# AI Bridge: the compiled CLI on Node 24 with production dependencies only.

# Build: the dev dependencies (TypeScript) compile src/ into dist/, exactly as `npm pack` does.
FROM node:24-slim AS build
WORKDIR /build
COPY package.json package-lock.json .npmrc ./
# No install scripts: the `node` dev dependency would fetch a second Node; this image has one.
RUN npm ci --no-audit --no-fund --ignore-scripts
COPY tsconfig.json tsconfig.build.json ./
COPY scripts ./scripts
COPY schemas ./schemas
COPY src ./src
RUN node scripts/build.ts

# Runtime
FROM node:24-slim
ENV NODE_ENV=production
WORKDIR /app
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts && npm cache clean --force
COPY bin ./bin
COPY schemas ./schemas
COPY aibridge.example.yaml ./
COPY --from=build /build/dist ./dist
# A config that reads everything from the environment; mount your own over it.
COPY deploy/aibridge.yaml /etc/aibridge/aibridge.yaml
# Created and owned before VOLUME: a new named volume is seeded from the image, owner included,
# so the non-root user can write its store and journal there.
RUN mkdir -p /var/lib/aibridge && chown node:node /var/lib/aibridge && chmod 700 /var/lib/aibridge
VOLUME /var/lib/aibridge
USER node
# Listen where EXPOSE and HEALTHCHECK expect, whatever the mounted config says; admin
# commands run in the image (`docker run … users list`) find the server's config.
ENV AIBRIDGE_LISTEN=0.0.0.0:4000 AIBRIDGE_CONFIG=/etc/aibridge/aibridge.yaml
EXPOSE 4000
# slim images have no curl; Node's fetch does.
HEALTHCHECK --interval=10s --timeout=3s --start-period=30s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:4000/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["node", "dist/src/cli.js"]
CMD ["server", "--config", "/etc/aibridge/aibridge.yaml"]

# AI Bridge runs its TypeScript sources directly on Node 24 (type stripping): no build stage.
FROM node:24-slim
WORKDIR /app
ENV NODE_ENV=production
COPY package.json package-lock.json .npmrc ./
RUN npm ci --omit=dev --no-audit --no-fund --ignore-scripts
COPY bin ./bin
COPY src ./src
COPY schemas ./schemas
COPY aibridge.example.yaml ./
USER node
EXPOSE 4000
ENTRYPOINT ["node", "src/cli.ts"]
CMD ["server", "--config", "/etc/aibridge/aibridge.yaml"]

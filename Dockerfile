# Build stage: compile TypeScript with the dev dependencies.
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json tsconfig.json tsconfig.build.json ./
COPY src ./src
RUN npm ci --no-audit --no-fund

# Runtime stage: production dependencies and the compiled output only, as a non-root user.
FROM node:20-bookworm-slim
ENV NODE_ENV=production \
    DIN_RPC_HOST=0.0.0.0 \
    DIN_RPC_PORT=8545 \
    DIN_ADMIN_PORT=9545
WORKDIR /app
COPY package.json package-lock.json ./
# --ignore-scripts: `prepare` would run the TypeScript build, which needs the dev dependencies.
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund && npm cache clean --force
COPY --from=build /app/dist ./dist
RUN ln -s /app/dist/cli.js /usr/local/bin/din-gateway && chmod +x /app/dist/cli.js
USER node
EXPOSE 8545 9545
HEALTHCHECK --interval=10s --timeout=3s --start-period=5s --retries=3 \
  CMD node -e "fetch('http://127.0.0.1:'+(process.env.DIN_RPC_PORT||8545)+'/health').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"
CMD ["din-gateway", "start"]

# The migration runner image (config: migrationRunnerImage): Gatehouse's CLIs,
# the schema expectations, and the app's own migration files of one release
# (in app-migrations/), run as one-off ECS tasks inside the VPC. Built per
# release by scripts/runner-image.sh, which stages the context (this
# repository's files and the app's migrations directory) and runs docker build:
#   scripts/runner-image.sh --migrations ../kifu/backend/migrations --tag <registry>/gatehouse-runner:<release>
# The task's command is `node --liftoff-only .gatehouse/build/migrate.js up --dir app-migrations
# --checksum <file>=<sha256> ...`: the runner applies only the copies whose sha256
# the release plan showed.
FROM node:22-bookworm-slim
WORKDIR /gatehouse
# node-postgres treats sslmode=require as verify-full: trust the RDS certificate
# authorities so the runner verifies the database it migrates.
ADD https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem /gatehouse/rds-global-bundle.pem
ENV NODE_EXTRA_CA_CERTS=/gatehouse/rds-global-bundle.pem
COPY package.json package-lock.json ./
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
COPY components ./components
COPY scripts ./scripts
COPY app-migrations ./app-migrations
COPY checks ./checks
COPY Pulumi.yaml ./
RUN npx esbuild scripts/migrate.ts --bundle --platform=node --target=node22 --format=cjs --packages=external \
      --outfile=.gatehouse/build/migrate.js --log-level=error
# Command mode: reads the revision the app's migration tool left (before and after it runs).
RUN npx esbuild scripts/migration-revision.ts --bundle --platform=node --target=node22 --format=cjs --packages=external \
      --outfile=.gatehouse/build/migration-revision.js --log-level=error
USER node

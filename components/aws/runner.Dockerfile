# The migration runner image (config: migrationRunnerImage): Gatehouse's CLIs
# and this repository's migrations and schema expectations, run as one-off
# ECS tasks inside the VPC. Build from the repository root:
#   docker build -f components/aws/runner.Dockerfile -t <registry>/gatehouse-runner:<release> .
# The task's command is `node --liftoff-only .gatehouse/build/migrate.js ...`.
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
COPY migrations ./migrations
COPY checks ./checks
COPY Pulumi.yaml ./
RUN npx esbuild scripts/migrate.ts --bundle --platform=node --target=node22 --format=cjs --packages=external \
      --outfile=.gatehouse/build/migrate.js --log-level=error
# Command mode: reads the revision the app's migration tool left (before and after it runs).
RUN npx esbuild scripts/migration-revision.ts --bundle --platform=node --target=node22 --format=cjs --packages=external \
      --outfile=.gatehouse/build/migration-revision.js --log-level=error
USER node

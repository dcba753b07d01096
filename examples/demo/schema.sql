-- The demo app's schema and seed data. Runs on every start (under an advisory
-- lock), so every statement is idempotent.
CREATE TABLE IF NOT EXISTS users (
  id         serial PRIMARY KEY,
  name       text NOT NULL,
  email      text NOT NULL UNIQUE,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS projects (
  id          serial PRIMARY KEY,
  owner_id    integer NOT NULL REFERENCES users (id),
  name        text NOT NULL,
  search_text text,
  created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS projects_owner_id ON projects (owner_id);

CREATE TABLE IF NOT EXISTS previews (
  id         serial PRIMARY KEY,
  project_id integer NOT NULL REFERENCES projects (id) ON DELETE CASCADE,
  size       text NOT NULL,
  status     text NOT NULL DEFAULT 'pending',
  UNIQUE (project_id, size)
);

INSERT INTO users (name, email)
SELECT 'User ' || i, 'user' || i || '@example.test' FROM generate_series(1, 10) AS i
ON CONFLICT (email) DO NOTHING;

INSERT INTO projects (owner_id, name)
SELECT i, 'Sample project ' || i FROM generate_series(1, 3) AS i
WHERE NOT EXISTS (SELECT 1 FROM projects);

INSERT INTO previews (project_id, size, status)
SELECT p.id, s.size, 'ready' FROM projects p CROSS JOIN (VALUES ('thumb'), ('large')) AS s (size)
ON CONFLICT (project_id, size) DO NOTHING;

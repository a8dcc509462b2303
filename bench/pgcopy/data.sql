-- bench/pgcopy.sh: the source rows. psql variable :scale (1 = the full dataset: 3.7 million rows
-- over 7 tables). Deterministic: uuids are md5s of a counter, random() is seeded, so foreign keys
-- are computed (no joins) and every run generates the same rows.
SELECT greatest(100,  round(100000  * :scale))::bigint AS n_users,
       greatest(20,   round(25000   * :scale))::bigint AS n_projects,
       greatest(1000, round(1200000 * :scale))::bigint AS n_todos,
       greatest(1000, round(1200000 * :scale))::bigint AS n_comments,
       greatest(500,  round(900000  * :scale))::bigint AS n_events,
       greatest(200,  round(200000  * :scale))::bigint AS n_attachments
\gset
SELECT setseed(0.42);
SET synchronous_commit = off;  -- generation only: the timed tools run with the server's defaults

INSERT INTO auth.users
SELECT '00000000-0000-0000-0000-000000000000',
       md5('user' || g)::uuid,
       'authenticated', 'authenticated',
       'user' || g || '@example.com',
       '$2a$10$' || substr(translate(encode(sha256(('pw' || g)::bytea), 'base64'), '+=', './'), 1, 53),
       ts + interval '5 minutes',
       '{"provider": "email", "providers": ["email"]}',
       jsonb_build_object('full_name', 'User ' || g, 'avatar_url',
                          'https://avatars.example.com/' || md5('a' || g) || '.png',
                          'locale', (ARRAY['en', 'fr', 'de', 'es', 'pt'])[1 + g % 5]),
       false, ts, ts + random() * interval '200 days', ts + random() * interval '300 days', NULL
FROM (SELECT g, timestamptz '2023-01-01' + random() * interval '600 days' AS ts
      FROM generate_series(1, :n_users) g) s;

INSERT INTO public.profiles
SELECT md5('user' || g)::uuid, 'user_' || g, 'User ' || g,
       'https://avatars.example.com/' || md5('a' || g) || '.png',
       CASE WHEN g % 3 = 0 THEN 'https://user' || g || '.example.com' END,
       timestamptz '2024-01-01' + random() * interval '300 days'
FROM generate_series(1, :n_users) g;

INSERT INTO public.projects (id, owner_id, name, slug, budget, description, created_at)
SELECT g, md5('user' || (1 + g % :n_users))::uuid, 'Project ' || g, 'project-' || g,
       round((random() * 100000)::numeric, 2),
       'Project ' || g || ': ' || md5('d' || g) || ' ' || md5('e' || g),
       timestamptz '2023-01-01' + random() * interval '600 days'
FROM generate_series(1, :n_projects) g;
SELECT setval(pg_get_serial_sequence('public.projects', 'id'), :n_projects);

INSERT INTO public.todos
SELECT g, 1 + g % :n_projects, md5('user' || (1 + (g * 7) % :n_users))::uuid,
       'Todo ' || g || ' ' || substr(md5('t' || g), 1, 16),
       (ARRAY['backlog', 'todo', 'in_progress', 'done', 'archived'])[1 + g % 5]::public.todo_status,
       ARRAY['tag' || g % 50, 'area' || g % 7] || CASE WHEN g % 4 = 0 THEN ARRAY['urgent'] ELSE '{}' END,
       jsonb_build_object('priority', (random() * 5)::int, 'estimate_h', round((random() * 40)::numeric, 1),
                          'source', (ARRAY['web', 'ios', 'android', 'api'])[1 + g % 4],
                          'checklist', jsonb_build_array(g % 3 = 0, g % 5 = 0, g % 7 = 0),
                          'ref', md5('r' || g)),
       CASE WHEN g % 2 = 0 THEN timestamptz '2024-06-01' + random() * interval '365 days' END,
       timestamptz '2023-01-01' + random() * interval '600 days',
       CASE WHEN g % 3 <> 0 THEN 'Notes for ' || g || ': ' || md5('n' || g) END
FROM generate_series(1, :n_todos) g;
SELECT setval(pg_get_serial_sequence('public.todos', 'id'), :n_todos);

INSERT INTO public.comments
SELECT g, 1 + (g * 13) % :n_todos, md5('user' || (1 + (g * 11) % :n_users))::uuid,
       'Comment ' || g || ' ' || md5('c' || g) || ' ' || md5('b' || g) || ' ' || substr(md5('x' || g), 1, (g % 32)),
       timestamptz '2023-01-01' + random() * interval '600 days'
FROM generate_series(1, :n_comments) g;
SELECT setval(pg_get_serial_sequence('public.comments', 'id'), :n_comments);

INSERT INTO public.events
SELECT timestamptz '2024-01-01' + g * interval '10 seconds',
       CASE WHEN g % 10 <> 0 THEN md5('user' || (1 + (g * 3) % :n_users))::uuid END,
       (ARRAY['page_view', 'click', 'sign_in', 'sign_out', 'api_call', 'error'])[1 + g % 6],
       jsonb_build_object('path', '/app/' || (ARRAY['todos', 'projects', 'settings', 'profile'])[1 + g % 4] || '/' || g % 1000,
                          'ms', (random() * 2000)::int,
                          'ua', (ARRAY['Mozilla/5.0 (Macintosh)', 'Mozilla/5.0 (iPhone)', 'Mozilla/5.0 (X11; Linux)'])[1 + g % 3],
                          'session', md5('s' || g / 20),
                          'props', jsonb_build_object('experiment', 'exp' || g % 12, 'variant', g % 2 = 0))
FROM generate_series(1, :n_events) g;

INSERT INTO public.attachments
SELECT md5('att' || g)::uuid, 1 + (g * 17) % :n_todos, md5('user' || (1 + g % :n_users))::uuid,
       'file-' || g || (ARRAY['.png', '.pdf', '.txt', '.jpg'])[1 + g % 4],
       (ARRAY['image/png', 'application/pdf', 'text/plain', 'image/jpeg'])[1 + g % 4],
       substring(decode(repeat(md5(g::text) || md5((g * 7)::text), 7), 'hex') FOR 192 + g % 17),
       timestamptz '2023-01-01' + random() * interval '600 days'
FROM generate_series(1, :n_attachments) g;

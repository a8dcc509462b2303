-- bench/pgcopy.sh: keys, foreign keys and indexes, built after the load.
SET maintenance_work_mem = '256MB';

ALTER TABLE auth.users ADD PRIMARY KEY (id);
ALTER TABLE auth.users ADD CONSTRAINT users_email_key UNIQUE (email);
ALTER TABLE public.profiles ADD PRIMARY KEY (id);
ALTER TABLE public.profiles ADD CONSTRAINT profiles_username_key UNIQUE (username);
ALTER TABLE public.projects ADD PRIMARY KEY (id);
ALTER TABLE public.projects ADD CONSTRAINT projects_owner_id_slug_key UNIQUE (owner_id, slug);
ALTER TABLE public.todos ADD PRIMARY KEY (id);
ALTER TABLE public.comments ADD PRIMARY KEY (id);
ALTER TABLE public.attachments ADD PRIMARY KEY (id);

ALTER TABLE public.profiles ADD CONSTRAINT profiles_id_fkey
  FOREIGN KEY (id) REFERENCES auth.users (id) ON DELETE CASCADE;
ALTER TABLE public.projects ADD CONSTRAINT projects_owner_id_fkey
  FOREIGN KEY (owner_id) REFERENCES auth.users (id) ON DELETE CASCADE;
ALTER TABLE public.todos ADD CONSTRAINT todos_project_id_fkey
  FOREIGN KEY (project_id) REFERENCES public.projects (id) ON DELETE CASCADE;
ALTER TABLE public.todos ADD CONSTRAINT todos_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES auth.users (id);
ALTER TABLE public.comments ADD CONSTRAINT comments_todo_id_fkey
  FOREIGN KEY (todo_id) REFERENCES public.todos (id) ON DELETE CASCADE;
ALTER TABLE public.comments ADD CONSTRAINT comments_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES auth.users (id);
ALTER TABLE public.events ADD CONSTRAINT events_user_id_fkey
  FOREIGN KEY (user_id) REFERENCES auth.users (id) ON DELETE SET NULL;
ALTER TABLE public.attachments ADD CONSTRAINT attachments_todo_id_fkey
  FOREIGN KEY (todo_id) REFERENCES public.todos (id) ON DELETE CASCADE;
ALTER TABLE public.attachments ADD CONSTRAINT attachments_owner_id_fkey
  FOREIGN KEY (owner_id) REFERENCES auth.users (id);

CREATE INDEX todos_project_id_idx ON public.todos (project_id);
CREATE INDEX todos_user_id_idx ON public.todos (user_id);
CREATE INDEX todos_status_due_at_idx ON public.todos (status, due_at) WHERE status <> 'archived';
CREATE INDEX comments_todo_id_idx ON public.comments (todo_id);
CREATE INDEX comments_user_id_idx ON public.comments (user_id);
CREATE INDEX events_user_id_idx ON public.events (user_id);
CREATE INDEX events_occurred_at_idx ON public.events (occurred_at);
CREATE INDEX events_payload_idx ON public.events USING gin (payload);
CREATE INDEX attachments_todo_id_idx ON public.attachments (todo_id);
CREATE INDEX attachments_owner_id_idx ON public.attachments (owner_id);

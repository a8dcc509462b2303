/*
  # Create todos table

  1. New Tables
    - `todos` (`id` uuid, `title` text, `user_id` uuid)
  2. Security
    - Enable RLS on `todos`
*/

CREATE TABLE IF NOT EXISTS todos (
  id uuid PRIMARY KEY DEFAULT gen_random_uuid(),
  title text NOT NULL,
  user_id uuid REFERENCES auth.users NOT NULL
);

ALTER TABLE todos ENABLE ROW LEVEL SECURITY;

CREATE POLICY "Users can read own todos"
  ON todos
  FOR SELECT
  TO authenticated
  USING (auth.uid() = user_id);

DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM pg_policies WHERE policyname = 'x') THEN
    CREATE POLICY "x" ON todos FOR DELETE TO authenticated USING (auth.uid() = user_id);
  END IF;
END $$;

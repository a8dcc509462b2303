insert into storage.buckets (id, name, public)
values ('avatars', 'avatars', true), ('receipts', 'receipts', false)
on conflict (id) do update set public = excluded.public;

insert into storage.buckets values ('legacy', 'legacy', 'false');

create policy "Avatar images are publicly accessible" on storage.objects
  for select using (bucket_id = 'avatars');

create policy "Anyone can upload" on storage.objects as restrictive
  for insert to anon, authenticated with check ( bucket_id = E'av\'atars' );

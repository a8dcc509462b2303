create unlogged table if not exists app."Orders" (id bigint);
alter table if exists only app."Orders" rename to orders;
alter table app.orders add column total numeric, enable row level security, no force row level security;
drop policy if exists "old policy" on app.orders;
alter policy p on app.orders rename to q;
alter policy q on app.orders to service_role using ((((true))));
drop table if exists app.orders, public.tmp cascade;
create table "odd;name" ("a""b" text default 'x;y''z');
/* outer /* nested */ still comment */ create temp table t (x int)

-- One role per service, named as its certificate's CN; each owns its own database and
-- nothing else. No role has a password: pg_hba.conf logs them in by certificate only.
REVOKE CONNECT ON DATABASE postgres FROM PUBLIC;
CREATE ROLE orders LOGIN;
CREATE DATABASE orders OWNER orders;
REVOKE ALL ON DATABASE orders FROM PUBLIC;
CREATE ROLE payments LOGIN;
CREATE DATABASE payments OWNER payments;
REVOKE ALL ON DATABASE payments FROM PUBLIC;

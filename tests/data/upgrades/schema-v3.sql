BEGIN TRANSACTION;
CREATE TABLE "account" ("id" INTEGER NOT NULL PRIMARY KEY, "name" VARCHAR(200) NOT NULL);
INSERT INTO "account" VALUES(1,'default');
CREATE TABLE "attachment" ("id" INTEGER NOT NULL PRIMARY KEY, "email_id" INTEGER NOT NULL, "filename" VARCHAR(255) NOT NULL, "content_type" VARCHAR(255) NOT NULL, "size" INTEGER NOT NULL, "sha256" VARCHAR(64) NOT NULL, "logged" INTEGER NOT NULL, FOREIGN KEY ("email_id") REFERENCES "logged_email" ("id") ON DELETE CASCADE);
INSERT INTO "attachment" VALUES(1,7,'contract.pdf','application/octet-stream',500,'cf8b64ce58b21f0edfc483b7039e9183293d4cd089296cfc4d0866c668c4d9d5',1);
CREATE TABLE "company" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "domain" VARCHAR(255) NOT NULL, "name" VARCHAR(300), "created_at" DATETIME NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE);
INSERT INTO "company" VALUES(1,1,'globex.example','Globex','2026-12-05 14:34:24.751261');
CREATE TABLE "contact" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "name" VARCHAR(300), "company_id" INTEGER, "created_at" DATETIME NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE, FOREIGN KEY ("company_id") REFERENCES "company" ("id") ON DELETE SET NULL);
INSERT INTO "contact" VALUES(1,1,NULL,1,'2026-12-05 14:34:25.211541');
INSERT INTO "contact" VALUES(2,1,'Jane Smith',1,'2026-12-05 14:34:25.766734');
INSERT INTO "contact" VALUES(3,1,'Pat',NULL,'2026-12-05 14:34:25.767185');
CREATE TABLE "contact_address" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, "address" VARCHAR(320) NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE, FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE);
INSERT INTO "contact_address" VALUES(1,1,1,'carl@globex.example');
INSERT INTO "contact_address" VALUES(2,1,2,'jane@globex.example');
INSERT INTO "contact_address" VALUES(3,1,3,'pat.personal@gmail.com');
CREATE TABLE "deal" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "name" VARCHAR(300) NOT NULL, "is_open" INTEGER NOT NULL, "created_at" DATETIME NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE);
INSERT INTO "deal" VALUES(1,1,'Globex renewal',1,'2026-12-05 14:34:25.156105');
CREATE TABLE "deal_contact" ("id" INTEGER NOT NULL PRIMARY KEY, "deal_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, FOREIGN KEY ("deal_id") REFERENCES "deal" ("id") ON DELETE CASCADE, FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE);
INSERT INTO "deal_contact" VALUES(1,1,1);
CREATE TABLE "email_company" ("id" INTEGER NOT NULL PRIMARY KEY, "email_id" INTEGER NOT NULL, "company_id" INTEGER NOT NULL, FOREIGN KEY ("email_id") REFERENCES "logged_email" ("id") ON DELETE CASCADE, FOREIGN KEY ("company_id") REFERENCES "company" ("id") ON DELETE CASCADE);
INSERT INTO "email_company" VALUES(1,1,1);
INSERT INTO "email_company" VALUES(2,2,1);
INSERT INTO "email_company" VALUES(3,4,1);
INSERT INTO "email_company" VALUES(4,5,1);
INSERT INTO "email_company" VALUES(5,6,1);
INSERT INTO "email_company" VALUES(6,7,1);
INSERT INTO "email_company" VALUES(7,8,1);
CREATE TABLE "email_contact" ("id" INTEGER NOT NULL PRIMARY KEY, "email_id" INTEGER NOT NULL, "contact_id" INTEGER NOT NULL, FOREIGN KEY ("email_id") REFERENCES "logged_email" ("id") ON DELETE CASCADE, FOREIGN KEY ("contact_id") REFERENCES "contact" ("id") ON DELETE CASCADE);
INSERT INTO "email_contact" VALUES(1,1,1);
INSERT INTO "email_contact" VALUES(2,2,1);
INSERT INTO "email_contact" VALUES(3,2,2);
INSERT INTO "email_contact" VALUES(4,3,3);
INSERT INTO "email_contact" VALUES(5,4,1);
INSERT INTO "email_contact" VALUES(6,5,2);
INSERT INTO "email_contact" VALUES(7,6,1);
INSERT INTO "email_contact" VALUES(8,7,1);
INSERT INTO "email_contact" VALUES(9,8,2);
CREATE TABLE "email_deal" ("id" INTEGER NOT NULL PRIMARY KEY, "email_id" INTEGER NOT NULL, "deal_id" INTEGER NOT NULL, FOREIGN KEY ("email_id") REFERENCES "logged_email" ("id") ON DELETE CASCADE, FOREIGN KEY ("deal_id") REFERENCES "deal" ("id") ON DELETE CASCADE);
INSERT INTO "email_deal" VALUES(1,1,1);
INSERT INTO "email_deal" VALUES(2,2,1);
INSERT INTO "email_deal" VALUES(3,4,1);
INSERT INTO "email_deal" VALUES(4,6,1);
INSERT INTO "email_deal" VALUES(5,7,1);
CREATE TABLE "ledger" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "mailbox" VARCHAR(200) NOT NULL, "uidvalidity" INTEGER NOT NULL, "uid" INTEGER NOT NULL, "sha256" VARCHAR(64), "message_id" VARCHAR(1000), "outcome" VARCHAR(16) NOT NULL, "reason" VARCHAR(64), "detail" TEXT, "route" VARCHAR(16), "owner" VARCHAR(320), "trace_json" TEXT NOT NULL, "folder" VARCHAR(300), "email_id" INTEGER, "attempts" INTEGER NOT NULL, "disposed" INTEGER NOT NULL, "first_seen" DATETIME NOT NULL, "updated_at" DATETIME NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE, FOREIGN KEY ("email_id") REFERENCES "logged_email" ("id") ON DELETE SET NULL);
INSERT INTO "ledger" VALUES(1,1,'default',1796481265,1,'e16095a2f6269dfa2c5e90e181b6981f8f57cdbc92d402a82227631d5d1cd65c','<m10@acme.example>','rejected','sender-not-permitted','the user nina@acme.example has a seat that may not log email','bcc','nina@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "nina@acme.example", "user": "nina@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": true, "reason": "sender-not-permitted", "data": {"action": "reject", "user": "nina@acme.example", "active": true, "may_log": false}}, {"rule": "notice", "hit": true, "reason": "queued", "data": {}}]','Error',NULL,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.773435');
INSERT INTO "ledger" VALUES(2,1,'default',1796481265,2,'b64232a81a0d0898d1c59b24da98adec15876ae3193e684d6558196e46dde34b','<m1@acme.example>','logged',NULL,NULL,'bcc','rita@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',1,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(3,1,'default',1796481265,3,'9df17d7089c36117a1b8e0ba7410f12ca06972ae6f21751999e8fc06a48635ea','<m2@acme.example>','logged',NULL,NULL,'bcc','rita@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',2,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(4,1,'default',1796481265,4,'6ed12f2094ec1599ae4acd9cd031f323d092362816988f6e2e0570595576ed79','<m3@acme.example>','logged',NULL,NULL,'bcc','sam@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "sam@acme.example", "user": "sam@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',3,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(5,1,'default',1796481265,5,'f8986b6acd258c25de094423f21d11e43daafa7a79248940b9fadee8b2be9b23','<m4@elsewhere.example>','rejected','sender-not-a-user','mallory@elsewhere.example is not the address of any CRM user','bcc',NULL,'[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": false, "reason": "none", "data": {"sender": "mallory@elsewhere.example", "user": null}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": true, "reason": "sender-not-a-user", "data": {"action": "reject", "sender": "mallory@elsewhere.example"}}, {"rule": "notice", "hit": false, "reason": "suppressed-not-a-user", "data": {}}]','Error',NULL,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.773435');
INSERT INTO "ledger" VALUES(6,1,'default',1796481265,6,'3a5110c3fc7f88fa7515a16f294adc9eafe3eec5d519156cc7d3919964b237f7','<fwd5@acme.example>','logged',NULL,NULL,'forward','rita@acme.example','[{"rule": "route", "hit": true, "reason": "forward", "data": {"evidence": "Delivered-To names the forwarding address", "header": "Delivered-To", "address": "log+fwd@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "forwards", "hit": true, "reason": "1 forwarded message(s)", "data": {"found": [{"source": "inline-text", "client": "gmail", "sender": "carl@globex.example", "sender_name": "Carl Customer", "date": "2026-11-18T08:15:00+00:00", "date_text": "Wed, Nov 18, 2026 at 8:15 AM"}]}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',4,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(7,1,'default',1796481265,7,'53c40a7bf6509c088ca6a5f87d86e963b043a272b4890e1490f2cf39b778ee05',NULL,'logged',NULL,NULL,'bcc','rita@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',5,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(8,1,'default',1796481265,8,'a2ef644bd805ff29237df64fc42f83324eb53504074247dc181c3537ba9711b3',NULL,'logged',NULL,NULL,'bcc','sam@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "sam@acme.example", "user": "sam@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',6,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(9,1,'default',1796481265,9,'8013fd5645370d2d3bc6bddbeca1935cbf4a0c124b78f027885c754cf3598ce3','<m8@acme.example>','logged',NULL,NULL,'bcc','rita@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',7,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(10,1,'default',1796481265,10,'f59009e7e66dc538605621c52fdd008bf269e108403ae79459dedd7b88f80b71',NULL,'logged',NULL,NULL,'bcc','rita@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',8,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(11,1,'default',1796481265,11,'7e4bf72da998fd68b5f7fe1ad5bffbaf1b3f89b431d328b12f281b697568a1cd','<m1@acme.example>','logged',NULL,NULL,'bcc','rita@acme.example','[{"rule": "route", "hit": true, "reason": "bcc", "data": {"evidence": "Delivered-To names the BCC address", "header": "Delivered-To", "address": "log@acme.example"}}, {"rule": "attribution", "hit": true, "reason": "login", "data": {"sender": "rita@acme.example", "user": "rita@acme.example"}}, {"rule": "unauthenticated", "hit": false, "reason": null, "data": {}}, {"rule": "body-too-large", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-a-user", "hit": false, "reason": null, "data": {}}, {"rule": "sender-not-permitted", "hit": false, "reason": null, "data": {}}, {"rule": "forward-not-recognised", "hit": false, "reason": null, "data": {}}, {"rule": "never-log", "hit": false, "reason": null, "data": {}}, {"rule": "no-recipients", "hit": false, "reason": null, "data": {}}, {"rule": "log", "hit": true, "reason": null, "data": {"emails": 1}}]','Processed',1,1,1,'2026-12-05 14:34:25.680600','2026-12-05 14:34:25.777860');
INSERT INTO "ledger" VALUES(12,1,'default',1796481265,12,NULL,NULL,'pending',NULL,NULL,NULL,NULL,'[]',NULL,NULL,1,0,'2026-12-05 14:34:26.114069','2026-12-05 14:34:26.114069');
CREATE TABLE "logged_email" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "identity" VARCHAR(1000) NOT NULL, "route" VARCHAR(16) NOT NULL, "direction" VARCHAR(16) NOT NULL, "owner_id" INTEGER NOT NULL, "message_id" VARCHAR(1000), "subject" TEXT NOT NULL, "date" DATETIME, "from_address" VARCHAR(320), "from_name" VARCHAR(300), "to_json" TEXT NOT NULL, "cc_json" TEXT NOT NULL, "text_body" TEXT NOT NULL, "html_body" TEXT, "note" TEXT, "in_reply_to" VARCHAR(1000), "references_json" TEXT NOT NULL, "thread_parent_id" INTEGER, "created_at" DATETIME NOT NULL, "fingerprint" VARCHAR(80), FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE, FOREIGN KEY ("owner_id") REFERENCES "user" ("id") ON DELETE CASCADE, FOREIGN KEY ("thread_parent_id") REFERENCES "logged_email" ("id") ON DELETE SET NULL);
INSERT INTO "logged_email" VALUES(1,1,'mid:m1@acme.example','bcc','outgoing',1,'<m1@acme.example>','Proposal','2026-11-16 10:30:00','rita@acme.example','Rita Rep','[{"name": "Carl Customer", "address": "carl@globex.example"}]','[]','Hello Carl,
here is our proposal.
Rita
',NULL,NULL,NULL,'[]',NULL,'2026-12-05 14:34:25.764888','fp:94279f55c451da34ce1a67c7c2424b92f2923a53e71d9cfebb56487251292b26');
INSERT INTO "logged_email" VALUES(2,1,'mid:m2@acme.example','bcc','outgoing',1,'<m2@acme.example>','Re: Proposal','2026-11-17 09:30:00','rita@acme.example','Rita Rep','[{"name": "Carl Customer", "address": "carl@globex.example"}]','[{"name": "Jane Smith", "address": "jane@globex.example"}, {"name": null, "address": "sam@acme.example"}]','Carl, following up on the proposal, with Jane in copy.
Rita
',NULL,NULL,'<m1@acme.example>','["<m1@acme.example>"]',1,'2026-12-05 14:34:25.765173','fp:ee5ad2ea4c17784d03b032ae31d96a54bcdccdf6548b11b92ab4cc1a6db0e0da');
INSERT INTO "logged_email" VALUES(3,1,'mid:m3@acme.example','bcc','outgoing',2,'<m3@acme.example>','Lunch next week?','2026-11-17 12:30:00','sam@acme.example','Sam Seller','[{"name": "Pat", "address": "pat.personal@gmail.com"}]','[]','Hi Pat, lunch next week?
Sam
',NULL,NULL,NULL,'[]',NULL,'2026-12-05 14:34:25.765273','fp:a537667c377069c592dfff7e1ae84b30050c1ad6b901f1d7310035978f0d3028');
INSERT INTO "logged_email" VALUES(4,1,'fp:2c4f6cb8db46322a6794505fa6bd575426fa6105d97b9919b02a439e990d9b56','forward','incoming',1,NULL,'Pricing question','2026-11-18 08:15:00','carl@globex.example','Carl Customer','[{"name": "Rita Rep", "address": "rita@acme.example"}]','[]','Hi Rita, what would 50 seats cost?
Carl',NULL,'Please log this.',NULL,'[]',NULL,'2026-12-05 14:34:25.765334','fp:2c4f6cb8db46322a6794505fa6bd575426fa6105d97b9919b02a439e990d9b56');
INSERT INTO "logged_email" VALUES(5,1,'fp:40277fef16abd5835d30a1446a504b7dab9535de10ba61b2c36e8b6dda6d1698','bcc','outgoing',1,NULL,'Bare id','2026-11-18 10:30:00','rita@acme.example','Rita Rep','[{"name": "Jane Smith", "address": "jane@globex.example"}]','[]','Jane, this one has a bare Message-ID.
',NULL,NULL,NULL,'[]',NULL,'2026-12-05 14:34:25.765385','fp:40277fef16abd5835d30a1446a504b7dab9535de10ba61b2c36e8b6dda6d1698');
INSERT INTO "logged_email" VALUES(6,1,'fp:88f69984c52dd632c91521013f7a15923caf7825361f126ea89888c3074d9a4f','bcc','outgoing',2,NULL,'No id at all','2026-11-18 11:30:00','sam@acme.example','Sam Seller','[{"name": "Carl Customer", "address": "carl@globex.example"}]','[]','Carl, my client wrote no Message-ID.
',NULL,NULL,NULL,'[]',NULL,'2026-12-05 14:34:25.765433','fp:88f69984c52dd632c91521013f7a15923caf7825361f126ea89888c3074d9a4f');
INSERT INTO "logged_email" VALUES(7,1,'mid:m8@acme.example','bcc','outgoing',1,'<m8@acme.example>','Contract','2026-11-18 12:30:00','rita@acme.example','Rita Rep','[{"name": "Carl Customer", "address": "carl@globex.example"}]','[]','Carl, the contract is attached.
',NULL,NULL,NULL,'[]',NULL,'2026-12-05 14:34:25.765480','fp:63e41432b9e32161bbcda2f69561cf1eaacee1d3c71a3209770b4388180d5c13');
INSERT INTO "logged_email" VALUES(8,1,'fp:ff8e85b3136f07220275d1f8b48b878dec799a773c3f62f9fa3180d37ce92951','bcc','outgoing',1,NULL,'Long table','2026-11-18 13:30:00','rita@acme.example','Rita Rep','[{"name": "Jane Smith", "address": "jane@globex.example"}]','[]','| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
| -- | -- | -- | -- | -- | -- | -- | -- | -- | -- |
Figures above. Rita
word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word word 
',NULL,NULL,NULL,'[]',NULL,'2026-12-05 14:34:25.765532','fp:ff8e85b3136f07220275d1f8b48b878dec799a773c3f62f9fa3180d37ce92951');
CREATE TABLE "never_log" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "value" VARCHAR(320) NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE);
CREATE TABLE "outbox" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "ledger_key" VARCHAR(400) NOT NULL, "reason" VARCHAR(64) NOT NULL, "recipient" VARCHAR(320) NOT NULL, "message_id" VARCHAR(400) NOT NULL, "raw" BLOB NOT NULL, "status" VARCHAR(16) NOT NULL, "attempts" INTEGER NOT NULL, "next_attempt_at" DATETIME NOT NULL, "last_error" TEXT, "created_at" DATETIME NOT NULL, "sent_at" DATETIME, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE);
INSERT INTO "outbox" VALUES(1,1,'default|default/1796481265/1','sender-not-permitted','nina@acme.example','<notice.78c185c577d51464a4dee773b1178b4b@localhost>',X'46726F6D3A206D61696C65722D6461656D6F6E4061636D652E6578616D706C650D0A546F3A204E696E61203C6E696E614061636D652E6578616D706C653E0D0A5375626A6563743A204E6F74206C6F676765643A204E696E61207772697465730D0A446174653A205361742C2030352044656320323032362031343A33343A3235202B303030300D0A4D6573736167652D49443A203C6E6F746963652E3738633138356335373764353134363461346465653737336231313738623462406C6F63616C686F73743E0D0A496E2D5265706C792D546F3A203C6D31304061636D652E6578616D706C653E0D0A5265666572656E6365733A203C6D31304061636D652E6578616D706C653E0D0A4175746F2D5375626D69747465643A206175746F2D7265706C6965640D0A582D4175746F2D526573706F6E73652D53757070726573733A20416C6C0D0A4D494D452D56657273696F6E3A20312E300D0A436F6E74656E742D547970653A206D756C7469706172742F7265706F72743B207265706F72742D747970653D2264656C69766572792D737461747573223B0D0A20626F756E646172793D223D3D3D3D3D3D3D3D3D3D3D3D3D3D3D323735373030353032353333333630353637383D3D220D0A0D0A2D2D3D3D3D3D3D3D3D3D3D3D3D3D3D3D3D323735373030353032353333333630353637383D3D0D0A436F6E74656E742D547970653A20746578742F706C61696E3B20636861727365743D227574662D38220D0A436F6E74656E742D5472616E736665722D456E636F64696E673A2071756F7465642D7072696E7461626C650D0A0D0A596F757220656D61696C20776173206E6F74206C6F6767656420696E207468652043524D2E0D0A0D0A20205375626A6563743A20204E696E61207772697465730D0A202053656E7420746F3A20206C6F674061636D652E6578616D706C650D0A202052656365697665643A205361742C2030352044656320323032362031343A33343A3235202B303030300D0A0D0A576861742068617070656E65640D0A20205468697320656D61696C2063616D652066726F6D206E696E614061636D652E6578616D706C652C2077686963682062656C6F6E677320746F20612043524D20757365722077686F206D61793D0D0A206E6F740D0A20206C6F6720656D61696C3A20746865206163636F756E742069732064656163746976617465642C206F7220697473207365617420646F6573206E6F7420696E636C7564650D0A20206C6F6767696E6720656D61696C2028666F72206578616D706C65206120726561642D6F6E6C792073656174292E0D0A0D0A5768617420746F20646F206E6578740D0A202041736B20796F75722043524D2061646D696E6973747261746F7220746F20616374697661746520746865206163636F756E74206F7220746F20616C6C6F7720697420746F206C6F670D0A2020656D61696C2C207468656E2073656E642074686520656D61696C20746F206C6F674061636D652E6578616D706C6520616761696E2E0D0A0D0A546865206F726967696E616C206D6573736167652069732061747461636865642062656C6F772E0D0A0D0A2D2D3D3D3D3D3D3D3D3D3D3D3D3D3D3D3D323735373030353032353333333630353637383D3D0D0A436F6E74656E742D547970653A206D6573736167652F64656C69766572792D7374617475730D0A0D0A5265706F7274696E672D4D54413A20646E733B206C6F63616C686F73740D0A4172726976616C2D446174653A205361742C2030352044656320323032362031343A33343A3235202B303030300D0A0D0A46696E616C2D526563697069656E743A207266633832323B206C6F674061636D652E6578616D706C650D0A416374696F6E3A206661696C65640D0A5374617475733A20352E372E310D0A446961676E6F737469632D436F64653A20782D656D61696C6C6F673B2073656E6465722D6E6F742D7065726D69747465640D0A0D0A2D2D3D3D3D3D3D3D3D3D3D3D3D3D3D3D3D323735373030353032353333333630353637383D3D0D0A436F6E74656E742D547970653A206D6573736167652F7266633832320D0A436F6E74656E742D5472616E736665722D456E636F64696E673A20376269740D0A0D0A44656C6976657265642D546F3A206C6F674061636D652E6578616D706C650D0A46726F6D3A204E696E61203C6E696E614061636D652E6578616D706C653E0D0A546F3A204361726C20437573746F6D6572203C6361726C40676C6F6265782E6578616D706C653E0D0A5375626A6563743A204E696E61207772697465730D0A446174653A205765642C203138204E6F7620323032362031343A33303A3030202B303030300D0A4D6573736167652D49443A203C6D31304061636D652E6578616D706C653E0D0A436F6E74656E742D547970653A20746578742F706C61696E3B20636861727365743D227574662D38220D0A436F6E74656E742D5472616E736665722D456E636F64696E673A20376269740D0A4D494D452D56657273696F6E3A20312E300D0A0D0A4361726C2C204E696E6120686572652E0D0A0D0A2D2D3D3D3D3D3D3D3D3D3D3D3D3D3D3D3D323735373030353032353333333630353637383D3D2D2D0D0A','pending',1,'2026-12-05 14:35:25.824136','relay unavailable: [Errno 111] Connection refused','2026-12-05 14:34:25.768937',NULL);
CREATE TABLE "schema_version" ("id" INTEGER NOT NULL PRIMARY KEY, "version" INTEGER NOT NULL, "applied_at" DATETIME NOT NULL);
INSERT INTO "schema_version" VALUES(1,1,'2026-12-05 14:34:23.106379');
INSERT INTO "schema_version" VALUES(2,2,'2026-12-05 14:34:23.111151');
INSERT INTO "schema_version" VALUES(3,3,'2026-12-05 14:34:23.113573');
CREATE TABLE "team_inbox" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "address" VARCHAR(320) NOT NULL, "connected_by_id" INTEGER NOT NULL, "connected_at" DATETIME NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE, FOREIGN KEY ("connected_by_id") REFERENCES "user" ("id") ON DELETE CASCADE);
CREATE TABLE "user" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "email" VARCHAR(320) NOT NULL, "name" VARCHAR(300), "active" INTEGER NOT NULL, "may_log" INTEGER NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE);
INSERT INTO "user" VALUES(1,1,'rita@acme.example','Rita Rep',1,1);
INSERT INTO "user" VALUES(2,1,'sam@acme.example','Sam Seller',1,1);
INSERT INTO "user" VALUES(3,1,'nina@acme.example','Nina',1,0);
CREATE TABLE "user_address" ("id" INTEGER NOT NULL PRIMARY KEY, "account_id" INTEGER NOT NULL, "user_id" INTEGER NOT NULL, "address" VARCHAR(320) NOT NULL, "kind" VARCHAR(16) NOT NULL, "connected_at" DATETIME NOT NULL, FOREIGN KEY ("account_id") REFERENCES "account" ("id") ON DELETE CASCADE, FOREIGN KEY ("user_id") REFERENCES "user" ("id") ON DELETE CASCADE);
INSERT INTO "user_address" VALUES(1,1,1,'rita.r@acme.example','alias','2026-12-05 14:34:24.393221');
CREATE UNIQUE INDEX "account_name" ON "account" ("name");
CREATE INDEX "user_account_id" ON "user" ("account_id");
CREATE UNIQUE INDEX "user_account_id_email" ON "user" ("account_id", "email");
CREATE INDEX "logged_email_account_id" ON "logged_email" ("account_id");
CREATE INDEX "logged_email_owner_id" ON "logged_email" ("owner_id");
CREATE INDEX "logged_email_message_id" ON "logged_email" ("message_id");
CREATE INDEX "logged_email_thread_parent_id" ON "logged_email" ("thread_parent_id");
CREATE UNIQUE INDEX "logged_email_account_id_identity" ON "logged_email" ("account_id", "identity");
CREATE INDEX "attachment_email_id" ON "attachment" ("email_id");
CREATE INDEX "company_account_id" ON "company" ("account_id");
CREATE UNIQUE INDEX "company_account_id_domain" ON "company" ("account_id", "domain");
CREATE INDEX "contact_account_id" ON "contact" ("account_id");
CREATE INDEX "contact_company_id" ON "contact" ("company_id");
CREATE INDEX "contact_address_account_id" ON "contact_address" ("account_id");
CREATE INDEX "contact_address_contact_id" ON "contact_address" ("contact_id");
CREATE UNIQUE INDEX "contact_address_account_id_address" ON "contact_address" ("account_id", "address");
CREATE INDEX "deal_account_id" ON "deal" ("account_id");
CREATE INDEX "deal_created_at" ON "deal" ("created_at");
CREATE INDEX "deal_contact_deal_id" ON "deal_contact" ("deal_id");
CREATE INDEX "deal_contact_contact_id" ON "deal_contact" ("contact_id");
CREATE UNIQUE INDEX "deal_contact_contact_id_deal_id" ON "deal_contact" ("contact_id", "deal_id");
CREATE INDEX "email_company_email_id" ON "email_company" ("email_id");
CREATE INDEX "email_company_company_id" ON "email_company" ("company_id");
CREATE UNIQUE INDEX "email_company_email_id_company_id" ON "email_company" ("email_id", "company_id");
CREATE INDEX "email_contact_email_id" ON "email_contact" ("email_id");
CREATE INDEX "email_contact_contact_id" ON "email_contact" ("contact_id");
CREATE UNIQUE INDEX "email_contact_email_id_contact_id" ON "email_contact" ("email_id", "contact_id");
CREATE INDEX "email_deal_email_id" ON "email_deal" ("email_id");
CREATE INDEX "email_deal_deal_id" ON "email_deal" ("deal_id");
CREATE UNIQUE INDEX "email_deal_email_id_deal_id" ON "email_deal" ("email_id", "deal_id");
CREATE INDEX "ledger_account_id" ON "ledger" ("account_id");
CREATE INDEX "ledger_email_id" ON "ledger" ("email_id");
CREATE INDEX "ledger_updated_at" ON "ledger" ("updated_at");
CREATE UNIQUE INDEX "ledger_mailbox_uidvalidity_uid" ON "ledger" ("mailbox", "uidvalidity", "uid");
CREATE INDEX "never_log_account_id" ON "never_log" ("account_id");
CREATE UNIQUE INDEX "never_log_account_id_value" ON "never_log" ("account_id", "value");
CREATE INDEX "team_inbox_account_id" ON "team_inbox" ("account_id");
CREATE INDEX "team_inbox_connected_by_id" ON "team_inbox" ("connected_by_id");
CREATE UNIQUE INDEX "team_inbox_account_id_address" ON "team_inbox" ("account_id", "address");
CREATE INDEX "user_address_account_id" ON "user_address" ("account_id");
CREATE INDEX "user_address_user_id" ON "user_address" ("user_id");
CREATE UNIQUE INDEX "user_address_account_id_address_kind_user_id" ON "user_address" ("account_id", "address", "kind", "user_id");
CREATE INDEX "outbox_account_id" ON "outbox" ("account_id");
CREATE INDEX "outbox_recipient" ON "outbox" ("recipient");
CREATE INDEX "outbox_next_attempt_at" ON "outbox" ("next_attempt_at");
CREATE INDEX "outbox_created_at" ON "outbox" ("created_at");
CREATE UNIQUE INDEX "outbox_ledger_key_reason" ON "outbox" ("ledger_key", "reason");
CREATE INDEX "logged_email_fingerprint" ON "logged_email" ("fingerprint");
COMMIT;

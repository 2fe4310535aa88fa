-- ViciDial's tables that the archive API touches, as ViciDial's installer makes them
-- (extras/MySQL_AST_CREATE_tables.sql, schema 1728; see ../shared/vicidial-tables.md).
-- Idempotent: run on every `make stack`.

CREATE TABLE IF NOT EXISTS vicidial_list (
lead_id INT(9) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
entry_date DATETIME,
modify_date TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
status VARCHAR(6),
user VARCHAR(20),
vendor_lead_code VARCHAR(20),
source_id VARCHAR(50),
list_id BIGINT(14) UNSIGNED NOT NULL DEFAULT '0',
gmt_offset_now DECIMAL(4,2) DEFAULT '0.00',
called_since_last_reset ENUM('Y','N','Y1','Y2','Y3','Y4','Y5','Y6','Y7','Y8','Y9','Y10','D') DEFAULT 'N',
phone_code VARCHAR(10),
phone_number VARCHAR(18) NOT NULL,
title VARCHAR(4),
first_name VARCHAR(30),
middle_initial VARCHAR(1),
last_name VARCHAR(30),
address1 VARCHAR(100),
address2 VARCHAR(100),
address3 VARCHAR(100),
city VARCHAR(50),
state VARCHAR(2),
province VARCHAR(50),
postal_code VARCHAR(10),
country_code VARCHAR(3),
gender ENUM('M','F','U') DEFAULT 'U',
date_of_birth DATE,
alt_phone VARCHAR(12),
email VARCHAR(70),
security_phrase VARCHAR(100),
comments VARCHAR(255),
called_count SMALLINT(5) UNSIGNED DEFAULT '0',
last_local_call_time DATETIME,
`rank` SMALLINT(5) NOT NULL DEFAULT '0',
owner VARCHAR(20) DEFAULT '',
entry_list_id BIGINT(14) UNSIGNED NOT NULL DEFAULT '0',
index (phone_number),
index (list_id),
index (called_since_last_reset),
index (status),
index (gmt_offset_now),
index (postal_code),
index (last_local_call_time),
index (`rank`),
index (owner),
index phone_list (phone_number,list_id),
index list_phone (list_id,phone_number),
index list_status (list_id,status)
) ENGINE=MyISAM;

-- vicidial_list_archive is not made by ViciDial's installer: devstack/mariadb.py makes it the admins' way
-- (docs/LEAD_ARCHIVING.txt), and only where it is missing.

CREATE TABLE IF NOT EXISTS vicidial_call_times (
call_time_id VARCHAR(10) PRIMARY KEY NOT NULL,
call_time_name VARCHAR(30) NOT NULL,
call_time_comments VARCHAR(255) default '',
ct_default_start SMALLINT(4) unsigned NOT NULL default '900',
ct_default_stop SMALLINT(4) unsigned NOT NULL default '2100',
ct_sunday_start SMALLINT(4) unsigned default '0',
ct_sunday_stop SMALLINT(4) unsigned default '0',
ct_monday_start SMALLINT(4) unsigned default '0',
ct_monday_stop SMALLINT(4) unsigned default '0',
ct_tuesday_start SMALLINT(4) unsigned default '0',
ct_tuesday_stop SMALLINT(4) unsigned default '0',
ct_wednesday_start SMALLINT(4) unsigned default '0',
ct_wednesday_stop SMALLINT(4) unsigned default '0',
ct_thursday_start SMALLINT(4) unsigned default '0',
ct_thursday_stop SMALLINT(4) unsigned default '0',
ct_friday_start SMALLINT(4) unsigned default '0',
ct_friday_stop SMALLINT(4) unsigned default '0',
ct_saturday_start SMALLINT(4) unsigned default '0',
ct_saturday_stop SMALLINT(4) unsigned default '0',
ct_state_call_times TEXT,
default_afterhours_filename_override VARCHAR(255) default '',
sunday_afterhours_filename_override VARCHAR(255) default '',
monday_afterhours_filename_override VARCHAR(255) default '',
tuesday_afterhours_filename_override VARCHAR(255) default '',
wednesday_afterhours_filename_override VARCHAR(255) default '',
thursday_afterhours_filename_override VARCHAR(255) default '',
friday_afterhours_filename_override VARCHAR(255) default '',
saturday_afterhours_filename_override VARCHAR(255) default '',
user_group VARCHAR(20) default '---ALL---',
ct_holidays TEXT
) ENGINE=MyISAM;

CREATE TABLE IF NOT EXISTS vicidial_call_time_holidays (
holiday_id VARCHAR(30) PRIMARY KEY NOT NULL,
holiday_name VARCHAR(100) NOT NULL,
holiday_comments VARCHAR(255) default '',
holiday_date DATE,
holiday_status ENUM('ACTIVE','INACTIVE','EXPIRED') default 'INACTIVE',
ct_default_start SMALLINT(4) unsigned NOT NULL default '900',
ct_default_stop SMALLINT(4) unsigned NOT NULL default '2100',
default_afterhours_filename_override VARCHAR(255) default '',
user_group VARCHAR(20) default '---ALL---',
holiday_method VARCHAR(40) default 'REPLACE'
) ENGINE=MyISAM;

-- ViciDial's stock call times, so OFFICE_HOURS=vicidial:9am-5pm works on the demo database.
INSERT IGNORE INTO vicidial_call_times (call_time_id, call_time_name, ct_default_start, ct_default_stop) VALUES
('24hours', 'default 24 hours calling', 0, 2400),
('9am-9pm', 'default 9am to 9pm calling', 900, 2100),
('9am-5pm', 'default 9am to 5pm calling', 900, 1700),
('12pm-5pm', 'default 12pm to 5pm calling', 1200, 1700),
('12pm-9pm', 'default 12pm to 9pm calling', 1200, 2100),
('5pm-9pm', 'default 5pm to 9pm calling', 1700, 2100);

-- ViciDial's phones and servers, the columns SIP_UPSTREAM=vicidial reads (and a few beside them), with
-- ViciDial's own definitions and indexes. devstack puts the demo agents' phones on two servers
-- (devstack/cluster.py).
CREATE TABLE IF NOT EXISTS phones (
extension VARCHAR(100),
dialplan_number VARCHAR(20),
server_ip VARCHAR(15),
login VARCHAR(15),
pass VARCHAR(100),
status VARCHAR(10),
active ENUM('Y','N'),
phone_type VARCHAR(50),
fullname VARCHAR(50),
protocol ENUM('SIP','PJSIP','Zap','IAX2','EXTERNAL') default 'SIP',
template_id VARCHAR(15) NOT NULL,
conf_secret VARCHAR(100) default 'test',
is_webphone ENUM('Y','N','Y_API_LAUNCH') default 'N',
use_external_server_ip ENUM('Y','N') default 'N',
webphone_auto_answer ENUM('Y','N') default 'Y',
index (server_ip),
index (dialplan_number),
unique index extenserver (extension, server_ip)
) ENGINE=MyISAM;

CREATE TABLE IF NOT EXISTS servers (
server_id VARCHAR(10) NOT NULL,
server_description VARCHAR(255),
server_ip VARCHAR(15) NOT NULL,
active ENUM('Y','N'),
asterisk_version VARCHAR(20) default '1.4.21.2',
external_server_ip VARCHAR(100) default '',
web_socket_url VARCHAR(255) default '',
external_web_socket_url VARCHAR(255) default '',
unique index server_id (server_id)
) ENGINE=MyISAM;

-- What ViciDial's agent screen needs for its webphone (README, "Using it as ViciDial's webphone"), with
-- ViciDial's own definitions (extras/MySQL_AST_CREATE_tables.sql): the phone's webphone columns, the server's
-- conference engine, the logged-in agents, the stored webphone URL, the conference rooms and the settings
-- container. Columns are added to tables made before they were needed.
ALTER TABLE phones
ADD COLUMN IF NOT EXISTS outbound_cid VARCHAR(20),
ADD COLUMN IF NOT EXISTS codecs_list VARCHAR(100) default '',
ADD COLUMN IF NOT EXISTS webphone_dialpad ENUM('Y','N','TOGGLE','TOGGLE_OFF') default 'Y',
ADD COLUMN IF NOT EXISTS user_group VARCHAR(20) default '---ALL---',
ADD COLUMN IF NOT EXISTS webphone_dialbox ENUM('Y','N') default 'Y',
ADD COLUMN IF NOT EXISTS webphone_mute ENUM('Y','N') default 'Y',
ADD COLUMN IF NOT EXISTS webphone_volume ENUM('Y','N') default 'Y',
ADD COLUMN IF NOT EXISTS webphone_debug ENUM('Y','N') default 'N',
ADD COLUMN IF NOT EXISTS webphone_layout VARCHAR(255) default '',
ADD COLUMN IF NOT EXISTS webphone_settings VARCHAR(40) default 'VICIPHONE_SETTINGS';

ALTER TABLE servers
ADD COLUMN IF NOT EXISTS conf_engine ENUM('MEETME','CONFBRIDGE') COLLATE utf8_unicode_ci DEFAULT 'MEETME';

CREATE TABLE IF NOT EXISTS vicidial_live_agents (
live_agent_id INT(9) UNSIGNED AUTO_INCREMENT PRIMARY KEY NOT NULL,
user VARCHAR(20),
server_ip VARCHAR(15) NOT NULL,
conf_exten VARCHAR(20),
extension VARCHAR(100),
status ENUM('READY','QUEUE','INCALL','PAUSED','CLOSER','MQUEUE') default 'PAUSED',
lead_id INT(9) UNSIGNED NOT NULL,
campaign_id VARCHAR(8),
uniqueid VARCHAR(20),
callerid VARCHAR(20),
channel VARCHAR(100),
random_id INT(8) UNSIGNED,
last_call_time DATETIME,
last_update_time TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
last_call_finish DATETIME,
closer_campaigns TEXT,
call_server_ip VARCHAR(15),
user_level TINYINT(3) UNSIGNED default '0',
comments VARCHAR(20),
campaign_weight TINYINT(1) default '0',
calls_today SMALLINT(5) UNSIGNED default '0',
external_hangup VARCHAR(1) default '',
external_status VARCHAR(255) default '',
external_pause VARCHAR(20) default '',
external_dial VARCHAR(100) default '',
external_ingroups TEXT,
external_blended ENUM('0','1') default '0',
external_igb_set_user VARCHAR(20) default '',
external_update_fields ENUM('0','1') default '0',
external_update_fields_data VARCHAR(255) default '',
external_timer_action VARCHAR(20) default '',
external_timer_action_message VARCHAR(255) default '',
external_timer_action_seconds MEDIUMINT(7) default '-1',
agent_log_id INT(9) UNSIGNED default '0',
last_state_change DATETIME,
agent_territories TEXT,
outbound_autodial ENUM('Y','N') default 'N',
manager_ingroup_set ENUM('Y','N','SET') default 'N',
ra_user VARCHAR(20) default '',
ra_extension VARCHAR(100) default '',
external_dtmf VARCHAR(100) default '',
external_transferconf VARCHAR(120) default '',
external_park VARCHAR(40) default '',
external_timer_action_destination VARCHAR(100) default '',
on_hook_agent ENUM('Y','N') default 'N',
on_hook_ring_time SMALLINT(5) default '15',
ring_callerid VARCHAR(20) default '',
last_inbound_call_time DATETIME,
last_inbound_call_finish DATETIME,
campaign_grade TINYINT(2) UNSIGNED default '1',
external_recording VARCHAR(20) default '',
external_pause_code VARCHAR(6) default '',
pause_code VARCHAR(6) default '',
preview_lead_id INT(9) UNSIGNED default '0',
external_lead_id INT(9) UNSIGNED default '0',
last_inbound_call_time_filtered DATETIME,
last_inbound_call_finish_filtered DATETIME,
dial_campaign_id VARCHAR(8) default '',
index (random_id),
index (last_call_time),
index (last_update_time),
index (last_call_finish)
) ENGINE=MyISAM;
CREATE INDEX IF NOT EXISTS vlali on vicidial_live_agents (lead_id);
CREATE INDEX IF NOT EXISTS vlaus on vicidial_live_agents (user);

CREATE TABLE IF NOT EXISTS vicidial_session_data (
session_name VARCHAR(40) UNIQUE NOT NULL,
user VARCHAR(20),
campaign_id VARCHAR(8),
server_ip VARCHAR(15) NOT NULL,
conf_exten VARCHAR(20),
extension VARCHAR(100) NOT NULL,
login_time DATETIME NOT NULL,
webphone_url TEXT,
agent_login_call TEXT
) ENGINE=MyISAM;

CREATE TABLE IF NOT EXISTS vicidial_conferences (
conf_exten INT(7) UNSIGNED NOT NULL,
server_ip VARCHAR(15) NOT NULL,
extension VARCHAR(100),
leave_3way ENUM('0','1') default '0',
leave_3way_datetime DATETIME,
unique index vextenserver (conf_exten, server_ip)
) ENGINE=MyISAM;

CREATE TABLE IF NOT EXISTS `vicidial_confbridges` (
`conf_exten` INT(7) UNSIGNED NOT NULL,
`server_ip` VARCHAR(15) COLLATE utf8_unicode_ci NOT NULL,
`extension` VARCHAR(100) COLLATE utf8_unicode_ci DEFAULT NULL,
`leave_3way` ENUM('0','1') COLLATE utf8_unicode_ci DEFAULT '0',
`leave_3way_datetime` DATETIME DEFAULT NULL,
UNIQUE KEY `serverconf` (`server_ip`,`conf_exten`),
UNIQUE KEY `conf_exten` (`conf_exten`,`server_ip`)
) ENGINE=MyISAM DEFAULT CHARSET=utf8 COLLATE=utf8_unicode_ci;

CREATE TABLE IF NOT EXISTS system_settings (
version VARCHAR(50),
db_schema_version INT(8) UNSIGNED default '0',
default_webphone ENUM('1','0') default '0',
webphone_url VARCHAR(255) default '',
webphone_systemkey VARCHAR(100) default ''
) ENGINE=MyISAM;

CREATE TABLE IF NOT EXISTS vicidial_settings_containers (
container_id VARCHAR(40) PRIMARY KEY NOT NULL,
container_notes VARCHAR(255) default '',
container_type VARCHAR(40) default 'OTHER',
user_group VARCHAR(20) default '---ALL---',
container_entry MEDIUMTEXT,
modify_stamp TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP
) ENGINE=MyISAM CHARSET=utf8 COLLATE=utf8_unicode_ci;

INSERT IGNORE INTO vicidial_settings_containers(container_id,container_notes,container_type,user_group,container_entry) VALUES ('VICIPHONE_SETTINGS','VICIphone WebRTC Extra Settings','WEBPHONE_SETTINGS','---ALL---','# determines if automatic gain control is enabled\nautoGain : 0\n\n# determines if echo cancellation is enabled\nechoCan : 0\n\n# determines if noise suppression is enabled\nnoiseSup :0\n\n# determines if the reg_exten is called upon successful registration\ndialRegExten : 1\n\n# determines the regional sound to use for progress audio\nprogReg : na\n\n# English translation phrases\nlangAttempting:"Attempting"\nlangConnected:"WS Connected"\nlangDisconnected:"WS Disconnected"\nlangExten:"Extension"\nlangIncall:"Incall"\nlangInit:"Initializing..."\nlangRedirect:"Redirect"\nlangRegFailed:"Reg. Failed"\nlangRegistering:"Registering"\nlangRegistered:"Registered"\nlangReject:"Rejected"\nlangRinging:"Ringing"\nlangSend:"Send"\nlangTrying:"Trying"\nlangUnregFailed:"Unreg. Failed"\nlangUnregistered:"Unregistered"\nlangUnregistering:"Unregistering"\nlangWebrtcError:"Something went wrong with WebRTC. Either your browser does not support the necessary WebRTC functions, you did not allow your browser to access the microphone, or there is a configuration issue. Please check your browsers error console for more details. For a list of compatible browsers please vist http://webrtc.org/"');
